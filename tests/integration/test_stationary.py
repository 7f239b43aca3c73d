"""A page means something: 200k events of a stationary stream through the whole loop raise no alert."""

from __future__ import annotations

import uuid

import pytest

from driftline.contract import Topics, decode_alert, decode_retrain_request
from driftline.kafka_admin import ensure_topics
from driftline.processes import run_roles
from driftline.producers import EventPublisher, ModelClient, Simulator, make_stream
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.registry import Registry
from driftline.settings import Settings
from tests.integration.kafka_io import read, wait_committed

pytestmark = [pytest.mark.broker, pytest.mark.slow]

EVENTS = 200_000
MAX_WARM = 40_000


def test_a_stationary_stream_of_200k_events_raises_no_alert(kafka_bootstrap, tmp_path):
    s = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                 home=str(tmp_path), partitions=2, batch_within_s=0.2, retrain_wait_s=60)
    ensure_topics(s)
    t = Topics(s.topic_prefix)
    model_id = "steady"
    registry = Registry(s.resolved_registry_url)
    client = ModelClient(model_id, registry=registry, store=ArtifactStore.from_settings(s),
                         settings=s, follow=True)
    publisher = EventPublisher(s)
    try:
        with run_roles(s, ["monitor", "retrainer"], tmp_path / "logs") as procs:
            sim = Simulator(s, model_id=model_id, stream=make_stream("agrawal", drifts=[], seed=21),
                            client=client, publisher=publisher, rate=1000.0,
                            feedback_delay_ms=1000, feedback_fraction=0.5, seed=21)
            # At a real pace until the first version serves, so it meets almost the whole stream.
            live_at = 0
            while client.version != "1" and live_at < MAX_WARM:
                live_at += sim.run(1000).n_events
            # The rest as fast as the service can send; event time keeps its 1 ms spacing.
            sim.rate = 0.0
            sim.run(EVENTS - live_at)
            # Done once the monitor has committed every prediction (it commits a batch only
            # after what it produced is acknowledged); a worker that died ends the wait, and
            # leaving run_roles then says which and where its log is.
            caught_up = wait_committed(s.kafka_bootstrap, f"{s.topic_prefix}monitor", t.predictions,
                                       timeout_s=600,
                                       give_up=lambda: any(p.poll() is not None for p in procs.values()))
            assert caught_up, "the monitor did not catch up"
        alerts = [decode_alert(r.value)
                  for r in read(s.kafka_bootstrap, t.alerts, until=lambda r: False, timeout_s=3)]
        requests = [decode_retrain_request(r.value) for r in
                    read(s.kafka_bootstrap, t.retrain_requests, until=lambda r: False, timeout_s=3)]
        champion = registry.champion(model_id)
    finally:
        publisher.close()
        client.close()
        registry.close()

    # The first version went live early and served almost the whole stream, so the run
    # tests it against the reference profile it was registered with.
    assert champion is not None and champion.version == "1" and champion.reference
    assert live_at < MAX_WARM
    assert alerts == [], [(a.kind, a.detector, a.feature, a.message) for a in alerts]
    assert [r.alert_ids for r in requests] == [[]]  # only the request for a first version

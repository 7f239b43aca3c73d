"""A promotion that does worse live than its gate said is rolled back: monitor, retrainer and a
hot-swapping service on a real broker and registry."""

from __future__ import annotations

import argparse
import io
import itertools
import threading
import time
import uuid

import pytest

from driftline.contract import Labeled, Topics, decode_alert, decode_model_version, decode_retrain_request
from driftline.demo import run_service
from driftline.kafka_admin import ensure_topics
from driftline.processes import run_roles
from driftline.producers import EventPublisher
from driftline.producers.streams import make_stream
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.orchestration.job import labeled_frame, retrain
from driftline.contract import RetrainRequest
from driftline.retrainer.persistence.registry import Registry
from driftline.settings import Settings
from tests.integration.kafka_io import read

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def window(model_id: str, seed: int, n: int, *, flip: bool = False) -> list[Labeled]:
    """``n`` labeled rows of the service's stream; ``flip``: every label wrong, as a labelling bug would."""
    rows = itertools.islice(make_stream("agrawal", seed=seed), n)
    return [Labeled(f"w{seed}-{i}", model_id, "0", 1_000 + i, 1_001 + i, x, y, (1 - y) if flip else y)
            for i, (x, y) in enumerate(rows)]


def test_a_promoted_version_that_does_worse_live_is_demoted_and_the_previous_one_restored(
        kafka_bootstrap, tmp_path):
    s = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                 home=str(tmp_path), partitions=2, batch_within_s=0.2, retrain_cooldown_ms=30_000,
                 retrain_wait_s=60, metrics_every=2000, rollback_window=300)
    ensure_topics(s)
    model_id = "rb"
    registry, store = Registry(s.resolved_registry_url), ArtifactStore.from_settings(s)
    try:
        v1 = retrain(RetrainRequest("q1", model_id, [], 0, 0), labeled_frame(window(model_id, 101, 2000)),
                     registry, store, s)
        assert v1.status == "champion"
        # The service runs until it has served v1 again for a while, or the time is up: how
        # soon the monitor gets through the labels depends on how loaded the machine is.
        args = argparse.Namespace(stream="agrawal", drift=[], seed=11, rate=500.0, feedback_delay_ms=1000,
                                  feedback_fraction=0.8, events=100_000, model_id=model_id)
        under_way, stop = threading.Event(), threading.Event()
        served: list[str] = []
        reports: list = []

        def progress(stats) -> None:  # every 2000 events
            served.append(stats.version)
            under_way.set()

        with run_roles(s, ["monitor", "retrainer"], tmp_path / "logs"):
            service = threading.Thread(target=lambda: reports.append(run_service(
                s, args, stop=stop, out=io.StringIO(), model_id=model_id, on_progress=progress)))
            service.start()
            try:
                assert under_way.wait(60)  # v1 has served 2000 events
                # v2 learned from a window whose labels were all wrong: it is perfect on that
                # window's holdout, so the gate promotes it, and wrong on live traffic.
                v2 = retrain(RetrainRequest("q2", model_id, [], 0, 0),
                             labeled_frame(window(model_id, 102, 2000, flip=True)), registry, store, s)
                assert (v2.version, v2.status) == ("2", "champion")
                assert v2.reference["performance"]["value"] > 0.9
                with EventPublisher(s) as publisher:
                    publisher.publish(v2.announcement(int(time.time() * 1000)))
                # The rollback can come before the service's next progress report, so it is
                # read off the registry; then the service serves v1 for two more reports.
                deadline = time.monotonic() + 150
                while registry.get(model_id, "2").status != "demoted":
                    assert time.monotonic() < deadline, f"not rolled back in time; versions served: {served}"
                    time.sleep(0.5)
                reported = len(served)
                while not (len(served) >= reported + 2 and served[-2:] == ["1", "1"]):
                    assert time.monotonic() < deadline + 60, f"v1 not served again; versions served: {served}"
                    time.sleep(0.5)
            finally:
                stop.set()
                service.join(60)
            assert not service.is_alive()
        report = reports[0]

        t = Topics(s.topic_prefix)
        alerts = [decode_alert(r.value)
                  for r in read(s.kafka_bootstrap, t.alerts, until=lambda r: False, timeout_s=3)]
        requests = [decode_retrain_request(r.value)
                    for r in read(s.kafka_bootstrap, t.retrain_requests, until=lambda r: False, timeout_s=3)]
        versions = [decode_model_version(r.value)
                    for r in read(s.kafka_bootstrap, t.model_versions, until=lambda r: False, timeout_s=3)]

        [alert] = [a for a in alerts if a.detector == "rollback"]
        assert (alert.kind, alert.severity, alert.model_version) == ("performance", "critical", "2")
        assert alert.message.startswith(f"v2 scored {alert.value:.3f} accuracy on its first 300 labeled "
                                        f"events, the gate measured {v2.reference['performance']['value']:.3f}")
        assert alert.message.endswith(": rolling back to v1") and alert.value < 0.5
        [request] = [r for r in requests if r.action == "rollback"]
        assert (request.model_version, request.alert_ids) == ("2", [alert.alert_id])
        assert [r for r in requests if r.action != "rollback"] == []  # no retrain of v1 or v2

        assert [(v.version, v.status) for v in registry.versions(model_id)] == [("1", "champion"),
                                                                                 ("2", "demoted")]
        # The retrainer restored v1 because v1 does better on what v2 served, and says so.
        assert registry.champion(model_id).status_reason.startswith(f"rolled back from v2: {alert.message} (v1 scored ")
        assert registry.run(model_id, request.request_id).version == "1"
        assert [(v.version, v.status) for v in versions] == [("2", "champion"), ("1", "champion")]
        assert versions[-1].reason == registry.champion(model_id).status_reason

        changes = report.version_changes()
        assert [v for _, v in changes] == ["2", "1"], changes
        (promoted, _), (restored, _) = changes
        assert report.version_at(report.n_events - 1) == "1"
        assert report.accuracy(promoted, restored) < 0.5 < 0.9 < report.accuracy(restored)
    finally:
        registry.close()

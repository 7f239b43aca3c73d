"""Every reader of ``labeled`` keeps an event id once: a shadow run and a rollback's comparison (real broker).

The retrain's own window is tested in ``test_window.py``. Here the topic holds
each live event and, as after a monitor restarted before committing, a second
copy of many of them; the figures must count each event once.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kafka import KafkaProducer

from driftline.contract import Labeled, RetrainRequest, Topics
from driftline.retrainer.data.frame import labeled_frame
from driftline.retrainer.orchestration.job import retrain
from driftline.retrainer.orchestration.shadow import ShadowRegistrations, run_shadow
from driftline.retrainer.orchestration.worker import RetrainWorker
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.registry import Registry
from driftline.settings import Settings
from tests.retrainer.kafka_helpers import publish
from tests.retrainer.streams import labeled_events, stream_rows
from tests.retrainer.orchestration.test_rollback import SINCE, champions, rollback_of

pytestmark = pytest.mark.broker


def with_duplicates(events: list[Labeled], every: int = 2) -> list[Labeled]:
    """``events``, then every ``every``-th of them again."""
    return events + events[::every]


def test_a_shadow_run_counts_each_live_event_once(kafka_settings: Settings, registry: Registry,
                                                  store: ArtifactStore,
                                                  producer_factory: Callable[[], KafkaProducer]) -> None:
    settings = kafka_settings.replace(min_train_examples=200, shadow_events=400, retrain_wait_s=1.0)
    retrain(RetrainRequest("q1", "m", [], 1_000, 0), labeled_frame(labeled_events("agrawal0", 1000)),
            registry, store, settings)
    shadow = retrain(RetrainRequest("q2", "m", [], 10_000, 0),
                     labeled_frame(labeled_events("agrawal2", 1000, start_ts=10_000)),
                     ShadowRegistrations(registry), store, settings)
    assert shadow.status == "shadow", shadow.reason
    live = labeled_events("agrawal2", 300, start_ts=50_000, seed=9, prefix="live")
    # 450 messages, 300 events: a reader counting messages would have its 400 and score them.
    publish(producer_factory(), Topics(settings.topic_prefix).labeled, with_duplicates(live))
    concluded = run_shadow(shadow, registry, store, settings, request_id="q2")
    assert concluded.status == "rejected"
    assert concluded.metrics["shadow"]["n_events"] == 300
    assert "300 of 400 labeled events arrived" in concluded.status_reason


def test_a_rollback_compares_the_versions_on_each_served_event_once(
        kafka_settings: Settings, registry: Registry, store: ArtifactStore,
        producer_factory: Callable[[], KafkaProducer]) -> None:
    settings = kafka_settings.replace(min_train_examples=200, holdout_fraction=0.3, gate_margin=0.01)
    champions(registry, store)
    served = [Labeled(f"live{i}", "m", "2", SINCE + i, SINCE + i + 5, x, 0, y)
              for i, (x, y) in enumerate(stream_rows("agrawal0", 600, seed=11))]
    publish(producer_factory(), Topics(settings.topic_prefix).labeled, with_duplicates(served, every=3))
    with RetrainWorker(settings, registry, store) as worker:
        record = worker.rollback(rollback_of())
    assert (record.version, record.status) == ("1", "champion")
    assert "on the 600 labeled events v2 served" in record.status_reason

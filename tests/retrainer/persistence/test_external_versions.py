"""Versions driftline did not make: recorded as external, and never a name driftline's own versions take."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from kafka import KafkaConsumer, KafkaProducer

from driftline.contract import RetrainRequest, Topics, decode_model_version
from driftline.retrainer.orchestration.worker import RetrainWorker
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.registry import Registry
from driftline.settings import Settings
from tests.retrainer.kafka_helpers import collect, publish
from tests.retrainer.streams import labeled_events

COMMON = dict(parent_version=None, alert_ids=[], metrics={}, artifact_uri=None, sha256=None,
              reason="r", trainer="t:f", features=["x"])


def register(registry: Registry, request_id: str, reported: dict, status: str = "champion"):
    return registry.register("m", status=status, request_id=request_id,
                             window={"model_versions": reported}, **COMMON)


def test_a_version_the_service_brought_is_external_and_driftlines_first_is_named_past_it(
        registry_url: str) -> None:
    with Registry(registry_url) as registry:
        first = register(registry, "q1", {"1": 800, "0": 12})
        assert first.version == "2"
        [external] = registry.external_versions("m")
        assert (external.version, external.n_labeled, external.request_id) == ("1", 800, "q1")
        assert registry.get("m", "1") is None  # not a driftline version
        assert registry.models() == ["m"]


def test_names_that_are_not_numbers_are_recorded_and_numbers_are_skipped(registry: Registry) -> None:
    assert register(registry, "q1", {"v3": 10, "7": 5, "1701234567890": 1}).version == "8"
    assert [e.version for e in registry.external_versions("m")] == ["v3", "7", "1701234567890"]
    # Reported again: counted up, not recorded twice.
    register(registry, "q2", {"7": 20}, status="rejected")
    assert {e.version: e.n_labeled for e in registry.external_versions("m")}["7"] == 25


def test_driftlines_own_versions_reported_back_are_not_external(registry: Registry) -> None:
    assert register(registry, "q1", {}).version == "1"
    assert register(registry, "q2", {"1": 500}).version == "2"
    assert registry.external_versions("m") == []


def test_a_version_reported_after_driftline_took_its_number_stays_driftlines(registry: Registry) -> None:
    # Once driftline has v1, a "1" on the wire is that version: the service serves it.
    register(registry, "q1", {})
    assert register(registry, "q2", {"1": 10, "3": 4}).version == "4"
    assert [e.version for e in registry.external_versions("m")] == ["3"]
    assert register(registry, "q3", {}).version == "5"


@pytest.mark.broker
def test_the_worker_names_its_first_champion_past_the_model_the_service_was_serving(
        kafka_settings: Settings, registry: Registry, store: ArtifactStore,
        producer_factory: Callable[[], KafkaProducer], consumer_factory: Callable[..., KafkaConsumer]) -> None:
    settings = kafka_settings.replace(min_train_examples=200, retrain_wait_s=5)
    topics = Topics(settings.topic_prefix)
    # The service's own model reports itself as "1"; the registry has never seen it.
    served = [msgspec.structs.replace(ev, model_version="1") for ev in labeled_events("agrawal0", 600)]
    publish(producer_factory(), topics.labeled, served)
    with RetrainWorker(settings, registry, store) as worker:
        record = worker.handle(RetrainRequest("q1", "m", ["a1"], since_ts=0, ts=1))
    assert (record.version, record.status) == ("2", "champion")
    assert record.window["model_versions"] == {"1": 600}
    assert [(e.version, e.n_labeled) for e in registry.external_versions("m")] == [("1", 600)]
    [announced] = [decode_model_version(m.value) for m in
                   collect(consumer_factory(), topics.model_versions, lambda ms: len(ms) >= 1)]
    assert (announced.version, announced.status) == ("2", "champion")

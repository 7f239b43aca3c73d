"""The retraining worker's rollback requests and shadow runs on a real broker."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from driftline.contract import RetrainRequest, Topics, decode_dead_letter, decode_model_version
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.orchestration.job import labeled_frame, retrain
from driftline.retrainer.persistence.registry import Registry
from driftline.retrainer.orchestration.worker import RetrainWorker
from driftline.settings import Settings
from tests.retrainer.kafka_helpers import collect, publish
from tests.retrainer.streams import labeled_events
from tests.retrainer.orchestration.test_worker import SINCE, run_until
from tests.retrainer.orchestration.test_worker import committed as _committed

pytestmark = pytest.mark.broker


def committed(admin: KafkaAdminClient, group: str, tp: TopicPartition) -> int | None:
    try:
        return _committed(admin, group, tp)
    except KafkaError:  # e.g. the group's coordinator moving on a fresh broker: ask again
        return None


class Const:
    def __init__(self, answer: int) -> None:
        self.answer = answer

    def predict_one(self, x: dict) -> int:
        return self.answer


def champions(registry: Registry, store: ArtifactStore, n: int) -> None:
    for k in range(1, n + 1):
        uri, sha = store.put("m", str(k), Const(k))
        registry.register("m", status="champion", parent_version=None, request_id=f"r{k}", alert_ids=[],
                          window={}, metrics={}, artifact_uri=uri, sha256=sha, reason=f"gate {k}",
                          trainer="t", features=["x"])


def rollback_of(version: str, request_id: str | None = None) -> RetrainRequest:
    return RetrainRequest(request_id=request_id or uuid.uuid4().hex, model_id="m", alert_ids=["a7"],
                          since_ts=SINCE, ts=SINCE, reason=f"v{version} fell short", action="rollback",
                          model_version=version)


def test_a_rollback_request_restores_and_announces_the_previous_champion_once(
        kafka_settings: Settings, registry: Registry, store: ArtifactStore,
        producer_factory: Callable[[], KafkaProducer], consumer_factory: Callable[..., KafkaConsumer],
        admin_factory: Callable[[], KafkaAdminClient]) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    champions(registry, store, 3)
    producer = producer_factory()
    request = rollback_of("3")
    sent = [producer.send(topics.retrain_requests, key=b"m", value=r.encode()).get(timeout=30)
            for r in (request, request, rollback_of("3"), rollback_of("2"), rollback_of("1"))]
    # The same request twice (a redelivery), a second request about v3 (already done), one
    # about v2 (the champion by then), and one about v1, which has nothing to go back to.
    tp = TopicPartition(topics.retrain_requests, sent[-1].partition)
    group, admin = f"g{uuid.uuid4().hex}", admin_factory()
    with RetrainWorker(kafka_settings, registry, store, group) as worker:
        run_until(worker, lambda: committed(admin, group, tp) == sent[-1].offset + 1)

    announced = [decode_model_version(m.value)
                 for m in collect(consumer_factory(), topics.model_versions, until=lambda m: len(m) >= 3)]
    assert [(e.version, e.status) for e in announced] == [("2", "champion"), ("2", "champion"),
                                                          ("1", "champion")]
    assert announced[0].reason == "rolled back from v3: v3 fell short"
    assert [(v.version, v.status) for v in registry.versions("m")] == [
        ("1", "champion"), ("2", "demoted"), ("3", "demoted")]
    run = registry.run("m", request.request_id)
    assert (run.state, run.version, run.alert_ids) == ("finished", "2", ["a7"])
    [dead] = collect(consumer_factory(), topics.dead_letter, until=lambda m: len(m) >= 1)
    assert "cannot roll back v1 of 'm'" in decode_dead_letter(dead.value).error
    assert worker.stats == {"published": 3, "reannounced": 0, "dead_lettered": 1, "failures": 0}


def test_a_challenger_is_shadowed_on_live_labels_then_promoted(
        kafka_settings: Settings, registry: Registry, store: ArtifactStore,
        producer_factory: Callable[[], KafkaProducer], consumer_factory: Callable[..., KafkaConsumer]) -> None:
    settings = kafka_settings.replace(min_train_examples=300, max_train_examples=800, retrain_wait_s=30,
                                      shadow_events=300)
    topics = Topics(settings.topic_prefix)
    retrain(RetrainRequest("q0", "m", [], 0, 0), labeled_frame(labeled_events("agrawal0", 800)),
            registry, store, settings)
    producer = producer_factory()
    publish(producer, topics.labeled, labeled_events("agrawal2", 800, start_ts=SINCE, prefix="train"))
    request = RetrainRequest("q1", "m", ["a1"], since_ts=SINCE, ts=SINCE)
    publish(producer, topics.retrain_requests, [request])
    stop = threading.Event()
    with RetrainWorker(settings, registry, store, f"g{uuid.uuid4().hex}") as worker:
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 60
            while (registry.find_by_request("m", "q1") or registry.champion("m")).status != "shadow":
                assert time.monotonic() < deadline and thread.is_alive()
                time.sleep(0.2)
            assert registry.champion("m").version == "1"  # in shadow, nothing changes for services
            # Labels of the champion's predictions made after the training window.
            publish(producer, topics.labeled,
                    labeled_events("agrawal2", 400, start_ts=SINCE + 10_000, seed=9, prefix="live"))
            while registry.champion("m").version != "2":
                assert time.monotonic() < deadline and thread.is_alive()
                time.sleep(0.2)
        finally:
            stop.set()
            thread.join(timeout=30)
    [msg] = collect(consumer_factory(), topics.model_versions, until=lambda m: len(m) >= 1)
    event = decode_model_version(msg.value)
    assert (event.version, event.status) == ("2", "champion")
    assert event.reason.startswith("promoted after its shadow run: on 300 live labeled events")
    shadow = event.metrics["shadow"]
    assert shadow["n_events"] == 300 and shadow["champion_version"] == "1"
    assert shadow["window"]["since_ts"] == SINCE + 800  # just after the training window
    assert shadow["challenger"] > shadow["champion"]
    assert [v.status for v in registry.versions("m")] == ["archived", "champion"]


def test_a_shadow_whose_labels_do_not_come_is_rejected_and_the_champion_stays(
        kafka_settings: Settings, registry: Registry, store: ArtifactStore,
        producer_factory: Callable[[], KafkaProducer], consumer_factory: Callable[..., KafkaConsumer],
        admin_factory: Callable[[], KafkaAdminClient]) -> None:
    settings = kafka_settings.replace(min_train_examples=300, max_train_examples=800, retrain_wait_s=2,
                                      shadow_events=300)
    topics = Topics(settings.topic_prefix)
    retrain(RetrainRequest("q0", "m", [], 0, 0), labeled_frame(labeled_events("agrawal0", 800)),
            registry, store, settings)
    producer = producer_factory()
    publish(producer, topics.labeled, labeled_events("agrawal2", 800, start_ts=SINCE, prefix="train"))
    request = RetrainRequest("q1", "m", ["a1"], since_ts=SINCE, ts=SINCE)
    [sent] = [producer.send(topics.retrain_requests, key=b"m", value=request.encode()).get(timeout=30)]
    group, admin = f"g{uuid.uuid4().hex}", admin_factory()
    with RetrainWorker(settings, registry, store, group) as worker:
        run_until(worker, lambda: committed(admin, group, TopicPartition(
            topics.retrain_requests, sent.partition)) == sent.offset + 1, timeout_s=90)
    event, again = (decode_model_version(m.value) for m in
                    collect(consumer_factory(), topics.model_versions, until=lambda m: len(m) >= 2))
    assert (event.version, event.status, event.artifact_uri) == ("2", "rejected", None)
    assert event.reason.startswith("rejected after its shadow run: 0 of 300 labeled events arrived within 2")
    assert registry.champion("m").version == "1"
    assert (again.version, again.status) == ("1", "champion")  # the newest record of the model
    assert len(list(store.root.rglob("*.pkl"))) == 1  # the rejected challenger's artifact is gone


class ShadowStuck(Registry):
    """A registry whose database goes down whenever a version waits in shadow."""

    def champion(self, model_id: str):
        if any(v.status == "shadow" for v in self.versions(model_id)):
            raise ConnectionError("database is down (simulated)")
        return super().champion(model_id)


def test_a_shadow_run_given_up_on_rejects_its_version_and_announces_it(
        kafka_settings: Settings, tmp_path, store: ArtifactStore,
        producer_factory: Callable[[], KafkaProducer], consumer_factory: Callable[..., KafkaConsumer],
        admin_factory: Callable[[], KafkaAdminClient]) -> None:
    settings = kafka_settings.replace(min_train_examples=300, max_train_examples=800, retrain_wait_s=30,
                                      shadow_events=300, retrain_max_attempts=2)
    topics = Topics(settings.topic_prefix)
    registry = ShadowStuck(f"sqlite:///{tmp_path / 'stuck.db'}")
    try:
        retrain(RetrainRequest("q0", "m", [], 0, 0), labeled_frame(labeled_events("agrawal0", 800)),
                registry, store, settings)
        producer = producer_factory()
        publish(producer, topics.labeled, labeled_events("agrawal2", 800, start_ts=SINCE, prefix="train"))
        request = RetrainRequest("q1", "m", ["a1"], since_ts=SINCE, ts=SINCE)
        sent = producer.send(topics.retrain_requests, key=b"m", value=request.encode()).get(timeout=30)
        group, admin = f"g{uuid.uuid4().hex}", admin_factory()
        with RetrainWorker(settings, registry, store, group) as worker:
            run_until(worker, lambda: committed(admin, group, TopicPartition(
                topics.retrain_requests, sent.partition)) == sent.offset + 1, timeout_s=90)
        assert worker.stats == {"published": 1, "reannounced": 1, "dead_lettered": 1, "failures": 2}
        version = registry.find_by_request("m", "q1")
        assert (version.version, version.status, version.artifact_uri) == ("2", "rejected", None)
        assert version.status_reason == ("rejected: its shadow run was given up, gave up after 2 attempts: "
                                         "ConnectionError: database is down (simulated)")
        assert registry.run("m", "q1").outcome == version.status_reason
        assert registry.champion("m").version == "1"
        assert len(list(store.root.rglob("*.pkl"))) == 1  # only the champion's artifact is left
    finally:
        registry.close()
    event, again = (decode_model_version(m.value) for m in
                    collect(consumer_factory(), topics.model_versions, until=lambda m: len(m) >= 2))
    assert (event.version, event.status, event.request_id) == ("2", "rejected", "q1")
    assert event.reason == version.status_reason
    assert (again.version, again.status) == ("1", "champion")
    [dead] = collect(consumer_factory(), topics.dead_letter, until=lambda m: len(m) >= 1)
    assert decode_dead_letter(dead.value).offset == sent.offset

"""The retraining worker end to end on a real broker."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CoordinatorLoadInProgressError, CoordinatorNotAvailableError

from driftline.contract import (
    RetrainRequest,
    Topics,
    decode_dead_letter,
    decode_model_version,
)
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.registry import Registry, VersionRecord
from driftline.retrainer.orchestration.worker import RetrainWorker
from driftline.settings import Settings
from tests.retrainer.kafka_helpers import collect, publish
from tests.retrainer.streams import labeled_events

pytestmark = pytest.mark.broker

SINCE = 1_700_000_000_000


class Probe(RetrainWorker):
    """A worker that notes the group's committed offset right after each version is acked."""

    def __init__(self, *args: object, admin: KafkaAdminClient, partition: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.admin = admin
        self.partition = partition
        self.committed_when_published: list[int | None] = []

    def _publish(self, record: VersionRecord) -> None:
        super()._publish(record)
        self.committed_when_published.append(
            committed(self.admin, self.group_id, TopicPartition(self.topics.retrain_requests, self.partition)))


def committed(admin: KafkaAdminClient, group_id: str, tp: TopicPartition) -> int | None:
    deadline = time.monotonic() + 15
    while True:
        try:
            offsets = admin.list_group_offsets(group_id).get(group_id, {})
            break
        except CoordinatorNotAvailableError:  # a fresh broker creates its offsets topic on first use
            return None
        except CoordinatorLoadInProgressError:  # a busy broker still loading a new group: ask again
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return offsets[tp].offset if tp in offsets else None


def run_until(worker: RetrainWorker, done: Callable[[], bool], timeout_s: float = 45.0) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert thread.is_alive(), "the worker stopped by itself"
            assert time.monotonic() < deadline, "the worker did not get there in time"
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive()


def work_through(settings: Settings, registry: Registry, store: ArtifactStore, admin: KafkaAdminClient,
                 last: object) -> RetrainWorker:
    """A worker of a fresh group, run until it has committed past ``last``, the record metadata
    of the newest request sent."""
    group = f"g{uuid.uuid4().hex}"
    tp = TopicPartition(Topics(settings.topic_prefix).retrain_requests, last.partition)
    with RetrainWorker(settings, registry, store, group) as worker:
        run_until(worker, lambda: committed(admin, group, tp) == last.offset + 1)
    return worker


def test_a_request_becomes_a_published_champion(
        kafka_settings: Settings, registry: Registry, store: ArtifactStore,
        producer_factory: Callable[[], KafkaProducer], consumer_factory: Callable[..., KafkaConsumer],
        admin_factory: Callable[[], KafkaAdminClient]) -> None:
    settings = kafka_settings.replace(min_train_examples=300, max_train_examples=5000, retrain_wait_s=5)
    topics = Topics(settings.topic_prefix)
    producer = producer_factory()
    # Examples from before the drift point carry the opposite labels: reading them would show.
    stale = [ev.__class__(**{**ev.to_dict(), "label": 1 - ev.label})
             for ev in labeled_events("agrawal0", 200, start_ts=SINCE - 10_000, prefix="stale")]
    fresh = labeled_events("agrawal0", 800, start_ts=SINCE)
    publish(producer, topics.labeled, stale + fresh)
    publish(producer, topics.labeled, labeled_events("agrawal2", 300, model_id="other", start_ts=SINCE))
    request = RetrainRequest(request_id=uuid.uuid4().hex, model_id="m", alert_ids=["a1", "a2"],
                             since_ts=SINCE, ts=SINCE + 5_000)
    # Same key, so the same partition as the request that follows.
    bad = producer.send(topics.retrain_requests, key=b"m", value=b"not json").get(timeout=30)
    publish(producer, topics.retrain_requests, [request])
    requests_tp = TopicPartition(topics.retrain_requests, bad.partition)

    group = f"g{uuid.uuid4().hex}"
    admin = admin_factory()
    versions = consumer_factory()
    worker = Probe(settings, registry, store, group, admin=admin, partition=bad.partition)
    try:
        run_until(worker, lambda: committed(admin, group, requests_tp) == bad.offset + 2)
    finally:
        worker.close()

    [msg] = collect(versions, topics.model_versions, until=lambda m: len(m) >= 1)
    event = decode_model_version(msg.value)
    assert msg.key == b"m"
    assert (event.model_id, event.version, event.status) == ("m", "1", "champion")
    assert event.request_id == request.request_id and event.parent_version is None
    assert event.metrics["holdout_accuracy"] > 0.95
    # The invalid request was dead-lettered and committed; this one only after its version was acked.
    assert worker.committed_when_published == [bad.offset + 1]
    assert worker.stats == {"published": 1, "reannounced": 0, "dead_lettered": 1, "failures": 0}

    record = registry.find_by_request("m", request.request_id)
    assert record == registry.champion("m")
    assert (record.artifact_uri, record.sha256, record.metrics, record.reason) == (
        event.artifact_uri, event.sha256, event.metrics, event.reason)
    assert record.alert_ids == ["a1", "a2"]
    assert record.window["topic"] == topics.labeled and record.window["since_ts"] == SINCE
    assert record.window["n_examples"] == 800 and record.window["until_ts"] == SINCE + 799
    assert set(record.window["offsets"]) == {"0", "1", "2"}

    model = store.load(event.artifact_uri, event.sha256)
    assert [model.predict_one(ev.features) for ev in fresh[-50:]] == [ev.label for ev in fresh[-50:]]

    [dead] = collect(consumer_factory(), topics.dead_letter, until=lambda m: len(m) >= 1)
    letter = decode_dead_letter(dead.value)
    assert (letter.source_topic, letter.partition, letter.offset) == (
        topics.retrain_requests, bad.partition, bad.offset)
    assert letter.raw_bytes == b"not json" and letter.key == b"m" and dead.key == b"m"
    assert letter.error.startswith("not JSON")


def test_too_few_examples_are_rejected_and_a_redelivered_request_is_not_retrained(
        kafka_settings: Settings, registry: Registry, store: ArtifactStore,
        producer_factory: Callable[[], KafkaProducer], consumer_factory: Callable[..., KafkaConsumer],
        admin_factory: Callable[[], KafkaAdminClient]) -> None:
    settings = kafka_settings.replace(min_train_examples=500, retrain_wait_s=1.0)
    topics = Topics(settings.topic_prefix)
    producer = producer_factory()
    publish(producer, topics.labeled, labeled_events("agrawal0", 60, start_ts=SINCE))
    request = RetrainRequest(request_id="q1", model_id="m", alert_ids=[], since_ts=SINCE, ts=SINCE)
    sent = [producer.send(topics.retrain_requests, key=request.key, value=request.encode()).get(timeout=30)
            for _ in range(2)]  # the second is a redelivery
    work_through(settings, registry, store, admin_factory(), sent[-1])

    messages = collect(consumer_factory(), topics.model_versions, until=lambda m: len(m) >= 2)
    first, second = (decode_model_version(m.value) for m in messages)
    assert (first.version, first.status, first.artifact_uri) == ("1", "rejected", None)
    assert first.reason == "rejected: the window holds 60 labeled examples, at least 500 are needed"
    assert (second.version, second.status, second.reason) == (first.version, first.status, first.reason)
    assert len(registry.versions("m")) == 1


def test_after_a_rejection_the_champion_is_the_newest_record_of_its_model(
        kafka_settings: Settings, registry: Registry, store: ArtifactStore,
        producer_factory: Callable[[], KafkaProducer], consumer_factory: Callable[..., KafkaConsumer],
        admin_factory: Callable[[], KafkaAdminClient]) -> None:
    # model-versions is compacted on model_id: whatever record of a model is newest is
    # all a service that starts from the topic later finds of it.
    settings = kafka_settings.replace(min_train_examples=300, retrain_wait_s=1.0)
    topics = Topics(settings.topic_prefix)
    producer = producer_factory()
    publish(producer, topics.labeled, labeled_events("agrawal0", 600, start_ts=SINCE))
    first = RetrainRequest(request_id="q1", model_id="m", alert_ids=[], since_ts=SINCE, ts=SINCE)
    # No labels after this one's since_ts: turned down for too few examples.
    second = RetrainRequest(request_id="q2", model_id="m", alert_ids=["a1"], since_ts=SINCE + 10**9,
                            ts=SINCE + 10**9)
    publish(producer, topics.retrain_requests, [first, second])
    sent = producer.send(topics.retrain_requests, key=second.key, value=second.encode()).get(timeout=30)
    worker = work_through(settings, registry, store, admin_factory(), sent)

    announced = [decode_model_version(m.value)
                 for m in collect(consumer_factory(), topics.model_versions, until=lambda m: len(m) >= 5)]
    # The rejection, then the champion again; the redelivered request does the same.
    assert [(e.version, e.status) for e in announced] == [
        ("1", "champion"), ("2", "rejected"), ("1", "champion"), ("2", "rejected"), ("1", "champion")]
    again = announced[2]
    assert again.reason == "still champion: v2 was rejected"
    assert (again.artifact_uri, again.sha256) == (announced[0].artifact_uri, announced[0].sha256)
    assert worker.stats["published"] == 3 and worker.stats["reannounced"] == 2


class FlakyRegistry(Registry):
    """A registry whose database is away for the first lookup."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.failures_left = 1

    def find_by_request(self, model_id: str, request_id: str) -> VersionRecord | None:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("database restarting (simulated)")
        return super().find_by_request(model_id, request_id)


def test_a_failed_request_is_retried_not_skipped(
        kafka_settings: Settings, tmp_path: Path, store: ArtifactStore,
        producer_factory: Callable[[], KafkaProducer], consumer_factory: Callable[..., KafkaConsumer],
        admin_factory: Callable[[], KafkaAdminClient]) -> None:
    settings = kafka_settings.replace(min_train_examples=10, retrain_wait_s=0)
    topics = Topics(settings.topic_prefix)
    producer = producer_factory()
    publish(producer, topics.labeled, labeled_events("agrawal0", 20, start_ts=SINCE))
    request = RetrainRequest(request_id="q1", model_id="m", alert_ids=[], since_ts=SINCE, ts=SINCE)
    sent = producer.send(topics.retrain_requests, key=request.key, value=request.encode()).get(timeout=30)

    group = f"g{uuid.uuid4().hex}"
    admin = admin_factory()
    registry = FlakyRegistry(f"sqlite:///{tmp_path / 'flaky.db'}")
    try:
        with RetrainWorker(settings, registry, store, group) as worker:
            run_until(worker, lambda: committed(
                admin, group, TopicPartition(topics.retrain_requests, sent.partition)) == sent.offset + 1)
        assert worker.stats["failures"] == 1 and worker.stats["published"] == 1
        assert registry.find_by_request("m", "q1") is not None
    finally:
        registry.close()
    [msg] = collect(consumer_factory(), topics.model_versions, until=lambda m: len(m) >= 1)
    assert decode_model_version(msg.value).request_id == "q1"

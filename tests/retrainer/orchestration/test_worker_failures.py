"""The retraining worker when things go wrong: killed mid-training, unknown models, a database
that stays down. On a real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from driftline.contract import RetrainRequest, Topics, decode_dead_letter, decode_model_version
from driftline.processes import settings_env
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.registry import Registry, VersionRecord
from driftline.retrainer.orchestration.worker import RetrainWorker
from driftline.settings import Settings
from tests.integration.kafka_io import read_to_end
from tests.retrainer.kafka_helpers import collect, publish
from tests.retrainer.streams import labeled_events
from tests.retrainer.orchestration.test_worker import committed, run_until

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[3]
SINCE = 1_700_000_000_000
ZOO = "tests.retrainer.trainer_zoo"


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child stays a zombie until reaped; that is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def worker_env(settings: Settings) -> dict[str, str]:
    return settings_env(settings)


def _start_worker(settings: Settings, log: Path) -> subprocess.Popen:
    out = log.open("ab")
    try:
        # From the checkout, so the test trainers import in the worker and its trainer processes.
        return subprocess.Popen([sys.executable, "-m", "driftline", "retrainer"], cwd=ROOT,
                                env=worker_env(settings), stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()


@pytest.mark.slow
def test_a_worker_killed_mid_training_leaves_nothing_and_the_request_is_trained_once(
        kafka_settings: Settings, tmp_path: Path, producer_factory: Callable[[], KafkaProducer],
        consumer_factory: Callable[..., KafkaConsumer]) -> None:
    settings = kafka_settings.replace(min_train_examples=100, retrain_wait_s=0, log_level="INFO")
    topics = Topics(settings.topic_prefix)
    # Recent event times: the broker's retention would delete a request stamped years ago
    # while the test waits for the dead worker's session to expire.
    since = int(time.time() * 1000) - 60_000
    pid_file, gate_file = tmp_path / "trainer.pid", tmp_path / "hold"
    gate_file.touch()  # the trainer waits while this file exists
    with Registry(settings.resolved_registry_url) as registry:
        registry.register_model("m", trainer=f"{ZOO}:slow", trainer_params={
            "pid_file": str(pid_file), "gate_file": str(gate_file), "seconds": 120})
    producer = producer_factory()
    publish(producer, topics.labeled, labeled_events("agrawal0", 400, start_ts=since))
    publish(producer, topics.retrain_requests,
            [RetrainRequest(request_id="q1", model_id="m", alert_ids=["a1"], since_ts=since, ts=since)])

    first = _start_worker(settings, tmp_path / "worker1.log")
    try:
        _wait_for(pid_file.exists, 90, "the trainer to start")
        trainer_pid = int(pid_file.read_text())
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        killed_at = time.monotonic()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    _wait_for(lambda: not _alive(trainer_pid), 15, "the orphaned trainer to die")
    with Registry(settings.resolved_registry_url) as registry:
        assert registry.versions("m") == []
        run = registry.run("m", "q1")
        assert (run.state, run.attempts, run.version) == ("started", 1, None)

    gate_file.unlink()  # the next attempt trains at once
    restarted_at = time.monotonic()
    second = _start_worker(settings, tmp_path / "worker2.log")
    try:
        # The dead worker's group membership has to expire first (the session timeout).
        collect(consumer_factory(), topics.model_versions, until=lambda m: len(m) >= 1, timeout_s=150)
        announced_at = time.monotonic()
    finally:
        second.terminate()
        second.wait(timeout=60)
    # One announcement, also once the replacement has stopped.
    [msg] = read_to_end(settings.kafka_bootstrap, topics.model_versions)
    print(f"\nthe replacement announced version 1 {announced_at - restarted_at:.1f} s after its start, "
          f"{announced_at - killed_at:.1f} s after the kill")
    event = decode_model_version(msg.value)
    assert (event.version, event.status, event.request_id) == ("1", "champion", "q1")
    with Registry(settings.resolved_registry_url) as registry:
        [version] = registry.versions("m")
        [run] = registry.runs("m")
        assert (run.state, run.attempts, run.version, run.outcome) == ("finished", 2, "1", version.reason)
        assert version.trainer == f"{ZOO}:slow" and version.alert_ids == ["a1"]
    # Every artifact on disk is the one the version points to, whole and matching its hash.
    files = sorted(settings.artifact_path.rglob("*"))
    assert [f for f in files if f.is_file()] == [ArtifactStore.path_of(version.artifact_uri)]
    ArtifactStore.from_settings(settings).load(version.artifact_uri, version.sha256)


def test_a_request_for_an_unknown_model_is_dead_lettered_with_a_failed_run(
        kafka_settings: Settings, registry: Registry, store: ArtifactStore,
        producer_factory: Callable[[], KafkaProducer], consumer_factory: Callable[..., KafkaConsumer],
        admin_factory: Callable[[], KafkaAdminClient]) -> None:
    settings = kafka_settings.replace(min_train_examples=50, retrain_wait_s=0, require_registration=True)
    topics = Topics(settings.topic_prefix)
    producer = producer_factory()
    publish(producer, topics.labeled, labeled_events("agrawal0", 100, model_id="known", start_ts=SINCE))
    registry.register_model("known")
    unknown = RetrainRequest(request_id="q1", model_id="ghost", alert_ids=["a1"], since_ts=SINCE, ts=SINCE)
    known = RetrainRequest(request_id="q2", model_id="known", alert_ids=[], since_ts=SINCE, ts=SINCE)
    sent = [producer.send(topics.retrain_requests, key=r.key, value=r.encode(), partition=0).get(timeout=30)
            for r in (unknown, known)]
    group = f"g{uuid.uuid4().hex}"
    admin = admin_factory()
    with RetrainWorker(settings, registry, store, group) as worker:
        run_until(worker, lambda: committed(
            admin, group, TopicPartition(topics.retrain_requests, 0)) == sent[-1].offset + 1)
    [dead] = collect(consumer_factory(), topics.dead_letter, until=lambda m: len(m) >= 1)
    letter = decode_dead_letter(dead.value)
    assert letter.error == ("model 'ghost' is not registered and has no version "
                            "(DRIFTLINE_REQUIRE_REGISTRATION is on); register it with "
                            "'driftline models register ghost'")
    run = registry.run("ghost", "q1")
    assert (run.state, run.outcome, run.version, run.alert_ids) == ("failed", letter.error, None, ["a1"])
    assert registry.versions("ghost") == []
    # The registered model was trained as usual.
    trained = registry.find_by_request("known", "q2")
    assert registry.run("known", "q2").outcome == trained.reason


class DownRegistry(Registry):
    """A registry whose database never answers the worker's first question."""

    def find_by_request(self, model_id: str, request_id: str) -> VersionRecord | None:
        raise ConnectionError("database is down (simulated)")


def test_a_request_that_keeps_failing_goes_to_the_dead_letter_topic(
        kafka_settings: Settings, tmp_path: Path, store: ArtifactStore,
        producer_factory: Callable[[], KafkaProducer], consumer_factory: Callable[..., KafkaConsumer],
        admin_factory: Callable[[], KafkaAdminClient]) -> None:
    settings = kafka_settings.replace(retrain_max_attempts=3)
    topics = Topics(settings.topic_prefix)
    producer = producer_factory()
    request = RetrainRequest(request_id="q1", model_id="m", alert_ids=[], since_ts=SINCE, ts=SINCE)
    sent = producer.send(topics.retrain_requests, key=request.key, value=request.encode()).get(timeout=30)
    group = f"g{uuid.uuid4().hex}"
    admin = admin_factory()
    registry = DownRegistry(f"sqlite:///{tmp_path / 'down.db'}")
    try:
        with RetrainWorker(settings, registry, store, group) as worker:
            run_until(worker, lambda: committed(
                admin, group, TopicPartition(topics.retrain_requests, sent.partition)) == sent.offset + 1)
        assert worker.stats == {"published": 0, "reannounced": 0, "dead_lettered": 1, "failures": 3}
        # The run could be written (only the lookup fails here), so it says why too.
        assert registry.run("m", "q1").outcome == \
            "gave up after 3 attempts: ConnectionError: database is down (simulated)"
    finally:
        registry.close()
    [dead] = collect(consumer_factory(), topics.dead_letter, until=lambda m: len(m) >= 1)
    letter = decode_dead_letter(dead.value)
    assert letter.error == "gave up after 3 attempts: ConnectionError: database is down (simulated)"
    assert (letter.partition, letter.offset, letter.raw_bytes) == (sent.partition, sent.offset, request.encode())

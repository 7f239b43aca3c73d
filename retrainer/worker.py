"""The retraining worker: retrain requests in, model versions out.

For each request on ``retrain-requests`` it reads the model's labeled window
back from Kafka, runs :func:`~driftline.retrainer.job.retrain`, publishes the
outcome on ``model-versions`` and waits for the broker's ack, and only then
commits the request. A crash anywhere before the commit means the request
comes back; the registry knows it by its request_id, so it is published
again rather than trained again.

Examples
--------
The trainer is checked before any connection is made, so a typo fails at once:

>>> import tempfile
>>> from pathlib import Path
>>> from driftline.retrainer.artifacts import ArtifactStore
>>> from driftline.retrainer.registry import Registry
>>> registry = Registry("sqlite://")
>>> with tempfile.TemporaryDirectory() as tmp:
...     RetrainWorker(Settings(), registry, ArtifactStore(Path(tmp)), trainer_spec="mytrainers:fit")
Traceback (most recent call last):
...
driftline.retrainer.exceptions.TrainerLoadError: trainer 'mytrainers:fit': cannot import 'mytrainers': No module named 'mytrainers'
>>> registry.close()

With a broker: ``worker.run(stop)`` in a thread until ``stop.set()``, then
``worker.close()``; ``tests/retrainer/test_worker.py`` does exactly that.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import IllegalStateError, KafkaError, KafkaTimeoutError
from kafka.structs import OffsetAndMetadata

from driftline.contract import (
    VERSION_STATUSES,
    DeadLetter,
    ModelVersion,
    RetrainRequest,
    Topics,
    decode_retrain_request,
)
from driftline.exceptions import BrokerUnavailable, InvalidEvent
from driftline.kafka_admin import ensure_topics
from driftline.retrainer.artifacts import ArtifactStore
from driftline.retrainer.exceptions import WindowInterrupted
from driftline.retrainer.frame import labeled_frame
from driftline.retrainer.job import retrain
from driftline.retrainer.registry import Registry, VersionRecord
from driftline.retrainer.trainers import DEFAULT_TRAINER, load_trainer
from driftline.retrainer.window import read_window
from driftline.settings import Settings

log = logging.getLogger(__name__)

_POLL_MS = 500
_ACK_TIMEOUT_S = 60.0
# A failing request (database or broker down) is retried from the same
# offset, never skipped: waits double from 1 s up to 30 s.
_BACKOFF_S = (1.0, 30.0)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class RetrainWorker:
    """Consumes retrain requests, retrains, publishes model versions.

    Parameters
    ----------
    settings
        Broker address, topic prefix, and the retrain limits
        (``min_train_examples``, ``max_train_examples``, ``retrain_wait_s``,
        ``gate_margin``, ``holdout_fraction``).
    registry, store
        Where versions and artifacts go; the worker does not close them.
    group_id
        The consumer group; workers in one group share the requests.
    trainer_spec
        ``"package.module:function"`` of the trainer, checked here so a typo
        fails at start rather than at the first request.
    """

    def __init__(self, settings: Settings, registry: Registry, store: ArtifactStore,
                 group_id: str = "driftline-retrainer", *, trainer_spec: str = DEFAULT_TRAINER):
        load_trainer(trainer_spec)
        self.settings = settings
        self.registry = registry
        self.store = store
        self.group_id = group_id
        self.trainer_spec = trainer_spec
        self.topics = Topics(settings.topic_prefix)
        self.stats = {"published": 0, "dead_lettered": 0, "failures": 0}
        self._stop = threading.Event()
        self._producer: KafkaProducer | None = None
        self._consumer: KafkaConsumer | None = None
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=settings.kafka_bootstrap, client_id="driftline-retrainer",
                acks="all", enable_idempotence=True, retries=2**31 - 1, linger_ms=5,
                delivery_timeout_ms=int(_ACK_TIMEOUT_S * 1000),
                max_request_size=max(1_048_576, settings.max_message_bytes),
            )
            self._consumer = KafkaConsumer(
                bootstrap_servers=settings.kafka_bootstrap, client_id="driftline-retrainer",
                group_id=group_id, enable_auto_commit=False, auto_offset_reset="earliest",
                # One request per poll: each is committed on its own, after its version is out.
                max_poll_records=1,
                # A request may wait retrain_wait_s for labels and then train.
                max_poll_interval_ms=int(max(300.0, settings.retrain_wait_s + 600.0) * 1000),
            )
        except KafkaTimeoutError as exc:  # the clients bootstrap in __init__
            self.close()
            raise BrokerUnavailable(f"no Kafka broker at {settings.kafka_bootstrap}") from exc
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ the loop

    def run(self, stop: threading.Event | None = None) -> None:
        """Handle requests until ``stop`` is set."""
        self._stop = stop if stop is not None else threading.Event()
        ensure_topics(self.settings)
        assert self._consumer is not None, "the worker is closed"
        self._consumer.subscribe([self.topics.retrain_requests])
        backoff = _BACKOFF_S[0]
        while not self._stop.is_set():
            for tp, messages in self._consumer.poll(timeout_ms=_POLL_MS).items():
                msg = messages[0]  # max_poll_records=1
                try:
                    self._process(msg)
                except WindowInterrupted:
                    log.info("stopped while waiting for labels; request at %s:%d stays uncommitted",
                             tp, msg.offset)
                    self._rewind(tp, msg.offset)  # a later run() starts with it again
                    return
                except Exception:
                    self.stats["failures"] += 1
                    log.exception("retrain request at %s offset %d failed; retrying in %.0f s",
                                  tp, msg.offset, backoff)
                    self._rewind(tp, msg.offset)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, _BACKOFF_S[1])
                    continue
                backoff = _BACKOFF_S[0]
                self._commit(tp, msg.offset + 1)

    def _process(self, msg: Any) -> None:
        try:
            request = decode_retrain_request(msg.value, self.settings.max_message_bytes)
        except InvalidEvent as exc:
            self._dead_letter(msg, str(exc))
            return
        self.handle(request)

    def handle(self, request: RetrainRequest) -> VersionRecord:
        """Read the window, retrain (once per request), publish the version and wait for the ack."""
        record = self.registry.find_by_request(request.model_id, request.request_id)
        if record is None:
            events, window = read_window(self.settings, request.model_id, request.since_ts, stop=self._stop)
            record = retrain(request, labeled_frame(events), self.registry, self.store,
                             self.settings, self.trainer_spec, window)
        self._publish(record)
        return record

    # ------------------------------------------------------------ Kafka output

    def _publish(self, record: VersionRecord) -> None:
        if record.status not in VERSION_STATUSES:
            # An archived version was announced when it was made and has been
            # superseded since; announcing it again would roll services back.
            return
        event = ModelVersion(
            model_id=record.model_id, version=record.version, status=record.status,
            parent_version=record.parent_version, request_id=record.request_id,
            artifact_uri=record.artifact_uri, sha256=record.sha256, metrics=record.metrics,
            ts=_now_ms(), reason=record.reason,
        )
        self._send(self.topics.model_versions, event.key, event.encode())
        self.stats["published"] += 1

    def _dead_letter(self, msg: Any, error: str) -> None:
        letter = DeadLetter.of(msg.topic, msg.partition, msg.offset, error, msg.value, _now_ms(), key=msg.key)
        log.warning("dead-lettering %s:%d:%d: %s", msg.topic, msg.partition, msg.offset, error)
        self._send(self.topics.dead_letter, msg.key, letter.encode())
        self.stats["dead_lettered"] += 1

    def _send(self, topic: str, key: bytes | None, value: bytes) -> None:
        assert self._producer is not None, "the worker is closed"
        # get() raises if the broker did not take it with acks=all.
        self._producer.send(topic, key=key, value=value).get(timeout=_ACK_TIMEOUT_S)

    # ------------------------------------------------------------ offsets

    def _commit(self, tp: TopicPartition, offset: int) -> None:
        assert self._consumer is not None
        try:
            self._consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})
        except KafkaError as exc:
            # Typically a rebalance: the next owner gets the request again,
            # finds it in the registry and only republishes it.
            log.warning("could not commit %s at %d: %s", tp, offset, exc)

    def _rewind(self, tp: TopicPartition, offset: int) -> None:
        assert self._consumer is not None
        try:
            self._consumer.seek(tp, offset)
        except (IllegalStateError, AssertionError, KafkaError):
            pass  # no longer ours after a rebalance; the new owner starts from the commit

    def close(self) -> None:
        """Leave the group and close the Kafka clients (the registry and store stay open)."""
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        if consumer is not None:
            consumer.close(autocommit=False)
        if producer is not None:
            producer.close(timeout=_ACK_TIMEOUT_S)

    def __enter__(self) -> RetrainWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

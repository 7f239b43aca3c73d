"""The retraining worker: retrain requests in, model versions out.

For each request on ``retrain-requests`` it reads the model's labeled window
back from Kafka, runs :func:`~driftline.retrainer.orchestration.job.retrain`, publishes the
outcome on ``model-versions`` and waits for the broker's ack, and only then
commits the request. A crash anywhere before the commit means the request
comes back; the registry knows it by its request_id, so it is published
again rather than trained again.

Every request handled is a *run* in the registry (who, when, how many
attempts, what came of it). A version and the close of its run are written in
one transaction, and the trainer runs in a child process that dies with the
worker, so a worker killed mid-training leaves a started run and nothing
else: the next worker takes the run over and trains the request once.

A request that yields no version is dead-lettered with the reason and its
run marked failed: a model the registry refuses (with
``DRIFTLINE_REQUIRE_REGISTRATION`` on, a model with neither a registration
nor a version; with it off, the default, every model is accepted, so the
monitor's request for a first version always goes through), a registered
trainer that no longer imports, a request started more than
``DRIFTLINE_RETRAIN_MAX_ATTEMPTS`` times without finishing (workers keep
dying on it), and a request that keeps failing for infrastructure reasons
(database or broker down): that one is retried from the same offset with a
doubling wait, ``DRIFTLINE_RETRAIN_MAX_ATTEMPTS`` times in all, then given up.

A request with action ``rollback`` (the monitor's, when a promoted version
fell short of its gate score) demotes that version if it is still the
champion, restores the previous champion and publishes it, if the previous
champion does better on the labeled events the version served; if it does
not, the traffic has moved on rather than the gate erred, and a challenger
is trained on those events instead (:mod:`~driftline.retrainer.orchestration.rollback`).
The restore, or the retrain's version, and the close of its run are one
transaction, so a redelivered request acts once and only publishes again. With shadow runs on
(``DRIFTLINE_SHADOW_EVENTS`` or a registration's ``shadow_events``), a
challenger the gate would promote is scored next to the champion on live
labeled events first (:mod:`~driftline.retrainer.orchestration.shadow`); a worker that dies
meanwhile leaves a version in shadow, which the redelivered request
resumes; a request given up on meanwhile rejects it, with the reason, and
announces that.

A worker that died between writing an artifact and registering its version
leaves a file no version points to; :func:`sweep_orphan_artifacts` removes
such files, once they are old enough, when a worker starts.

Examples
--------
The trainer is checked before any connection is made, so a typo fails at once:

>>> import tempfile
>>> from pathlib import Path
>>> from driftline.retrainer.persistence.artifacts import ArtifactStore
>>> from driftline.retrainer.persistence.registry import Registry
>>> registry = Registry("sqlite://")
>>> with tempfile.TemporaryDirectory() as tmp:
...     RetrainWorker(Settings(), registry, ArtifactStore(Path(tmp), key=b"k" * 32), trainer_spec="mytrainers:fit")
Traceback (most recent call last):
...
driftline.retrainer.exceptions.TrainerLoadError: trainer 'mytrainers:fit': cannot import 'mytrainers': No module named 'mytrainers'
>>> registry.close()

With a broker: ``worker.run(stop)`` in a thread until ``stop.set()``, then
``worker.close()``; ``tests/retrainer/orchestration/test_worker.py`` does exactly that.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import IllegalStateError, KafkaError
from kafka.structs import OffsetAndMetadata

from driftline.contract import (
    VERSION_STATUSES,
    DeadLetter,
    RetrainRequest,
    Topics,
    decode_retrain_request,
)
from driftline.exceptions import InvalidEvent
from driftline.kafka.clients import connect
from driftline.kafka_admin import ensure_topics
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.mlflow_mirror import MlflowMirror
from driftline.retrainer.exceptions import (
    RegistryError,
    RetrainerError,
    TrainerLoadError,
    TrainingInterrupted,
    WindowInterrupted,
)
from driftline.retrainer.data.frame import labeled_frame
from driftline.retrainer.orchestration.job import retrain
from driftline.retrainer.persistence.registry import Registry, VersionRecord
from driftline.retrainer.orchestration.rollback import roll_back
from driftline.retrainer.orchestration.shadow import ShadowRegistrations, run_shadow, shadow_events
from driftline.retrainer.learners.trainers import DEFAULT_TRAINER, load_trainer
from driftline.retrainer.orchestration.training import start_fork_server
from driftline.retrainer.data.window import read_window
from driftline.settings import Settings

log = logging.getLogger(__name__)

_POLL_MS = 500
_ACK_TIMEOUT_S = 60.0
_CONNECT_TIMEOUT_S = 30.0
# A failing request (database or broker down) is retried from the same
# offset, waits doubling from 1 s up to 30 s, until settings.retrain_max_attempts.
_BACKOFF_S = (1.0, 30.0)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def sweep_orphan_artifacts(registry: Registry, store: ArtifactStore, older_than_s: float,
                           now: float | None = None) -> list[str]:
    """Delete artifact files that no version points to and that are older than ``older_than_s``.

    Such files are left by a worker that died between writing an artifact and
    registering its version (or mid-write, a ``.tmp-`` file). The age limit
    keeps the files of workers that are between those two steps right now.
    Returns the URIs of what was deleted.
    """
    referenced = registry.artifact_uris()
    cutoff = (time.time() if now is None else now) - older_than_s
    removed = []
    for uri, mtime in store.files():
        if uri not in referenced and mtime < cutoff:
            store.remove(uri)  # another worker may have swept it first: that is no error
            removed.append(uri)
    return removed


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class RequestAbandoned(RetrainerError):
    """A request that will yield no version; its run is failed and it goes to the dead-letter topic."""


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
        ``"package.module:function"`` of the default trainer, for models whose
        registration names none; checked here so a typo fails at start
        rather than at the first request.
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
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stats = {"published": 0, "reannounced": 0, "dead_lettered": 0, "failures": 0}
        self._stop = threading.Event()
        self._mirror = MlflowMirror.from_settings(settings) if settings.mlflow_tracking_uri else None
        # A driftline.observe MetricsExporter when the worker serves /metrics; set by its command.
        self.exporter: Any = None
        self.ready = False  # in its consumer group: answers /readyz
        self._producer: KafkaProducer | None = None
        self._consumer: KafkaConsumer | None = None
        try:
            self._producer = connect(
                KafkaProducer, settings, timeout=_CONNECT_TIMEOUT_S, wait_s=_CONNECT_TIMEOUT_S,
                client_id="driftline-retrainer",
                acks="all", enable_idempotence=True, retries=2**31 - 1, linger_ms=5,
                delivery_timeout_ms=int(_ACK_TIMEOUT_S * 1000),
                max_request_size=max(1_048_576, settings.max_message_bytes),
            )
            self._consumer = connect(
                KafkaConsumer, settings, timeout=_CONNECT_TIMEOUT_S, wait_s=_CONNECT_TIMEOUT_S,
                client_id="driftline-retrainer",
                group_id=group_id, enable_auto_commit=False, auto_offset_reset="earliest",
                # A worker that dies hands its partitions over within seconds (the monitor's
                # timeouts too); its requests wait meanwhile.
                session_timeout_ms=10_000, heartbeat_interval_ms=3_000,
                # One request per poll: each is committed on its own, after its version is out.
                max_poll_records=1,
                # A request may wait retrain_wait_s for labels, train, then wait
                # retrain_wait_s again for the labels of a shadow run.
                max_poll_interval_ms=int((2 * settings.retrain_wait_s + (settings.train_timeout_s or 3600.0)
                                          + 300.0) * 1000),
            )
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
        start_fork_server()
        # Well past the longest a live worker spends between writing an artifact and registering it.
        grace_s = max(3600.0, 2 * (self.settings.train_timeout_s or 3600.0))
        try:
            for path in sweep_orphan_artifacts(self.registry, self.store, grace_s):
                log.warning("removed artifact %s: no version points to it", path)
        except Exception:  # housekeeping only: a database that is down now is retried per request
            log.warning("could not sweep orphan artifacts", exc_info=True)
        backoff = _BACKOFF_S[0]
        failed: dict[tuple[TopicPartition, int], int] = {}  # attempts of the request at hand
        while not self._stop.is_set():
            polled = self._consumer.poll(timeout_ms=_POLL_MS)
            self.ready = True
            for tp, messages in polled.items():
                msg = messages[0]  # max_poll_records=1
                try:
                    self._observe(*self._process(msg))
                except (WindowInterrupted, TrainingInterrupted) as exc:
                    log.info("%s; request at %s:%d stays uncommitted", exc, tp, msg.offset)
                    self._rewind(tp, msg.offset)  # a later run() starts with it again
                    return
                except Exception as exc:
                    self.stats["failures"] += 1
                    attempts = failed[(tp, msg.offset)] = failed.get((tp, msg.offset), 0) + 1
                    if attempts >= self.settings.retrain_max_attempts and self._give_up(msg, attempts, exc):
                        self._observe("failed", msg.key.decode("utf-8", "replace") if msg.key else None)
                        failed.pop((tp, msg.offset), None)
                        self._commit(tp, msg.offset + 1)
                        continue
                    log.exception("retrain request at %s offset %d failed (attempt %d of %d); "
                                  "retrying in %.0f s", tp, msg.offset, attempts,
                                  self.settings.retrain_max_attempts, backoff)
                    self._rewind(tp, msg.offset)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, _BACKOFF_S[1])
                    continue
                failed.pop((tp, msg.offset), None)
                backoff = _BACKOFF_S[0]
                self._commit(tp, msg.offset + 1)

    def _process(self, msg: Any) -> tuple[str, str | None]:
        """Handle one request message; its outcome and model, for the metrics."""
        try:
            request = decode_retrain_request(msg.value, self.settings.max_message_bytes)
        except InvalidEvent as exc:
            self._dead_letter(msg, str(exc))
            return "invalid", None
        try:
            record = self.handle(request)
        except RequestAbandoned as exc:
            # Dead letter first: if the worker dies before the commit, the
            # request comes back and finds its run failed, so no second letter.
            self._dead_letter(msg, str(exc))
            self.registry.fail_run(request.model_id, request.request_id, str(exc), self.worker_id,
                                   request.alert_ids)
            return "abandoned", request.model_id
        if record is None:
            return "skipped", request.model_id
        if request.is_rollback:
            return "rolled_back", request.model_id
        return ("promoted" if record.status == "champion" else record.status), request.model_id

    def _observe(self, outcome: str, model_id: str | None) -> None:
        if self.exporter is not None:
            self.exporter.observe_retrain(outcome, model_id)

    def _give_up(self, msg: Any, attempts: int, exc: Exception) -> bool:
        """Dead-letter a request that kept failing; False if even that failed (retry later)."""
        reason = f"gave up after {attempts} attempts: {_describe(exc)}"
        log.error("retrain request at %s:%d: %s", msg.topic, msg.offset, reason)
        try:
            self._dead_letter(msg, reason)
        except Exception:
            log.exception("could not dead-letter the request at %s:%d", msg.topic, msg.offset)
            return False
        try:
            request = decode_retrain_request(msg.value, self.settings.max_message_bytes)
            self.registry.fail_run(request.model_id, request.request_id, reason, self.worker_id,
                                   request.alert_ids)
            self._reject_shadow(request, reason)
        except Exception:  # the database may be what is down; the dead letter has the reason
            log.warning("could not record the failure of %s:%d", msg.topic, msg.offset, exc_info=True)
        return True

    def _reject_shadow(self, request: RetrainRequest, reason: str) -> None:
        """A request given up on during its shadow run: its version is rejected, not left in shadow.

        Nothing would conclude it otherwise (the request is not delivered
        again), and a version in shadow for good hides from ops why the
        champion stayed.
        """
        shadow = self.registry.find_by_request(request.model_id, request.request_id)
        if shadow is None or shadow.status != "shadow":
            return
        record = self.registry.conclude_shadow(
            shadow.model_id, shadow.version, promote=False, figures={"n_events": 0},
            reason=f"rejected: its shadow run was given up, {reason}", request_id=request.request_id)
        if record.status != "rejected":
            return  # concluded meanwhile by a worker that had not given up
        log.warning("model %s v%s %s", record.model_id, record.version, record.status_reason)
        if shadow.artifact_uri:
            self.store.remove(shadow.artifact_uri)
        self._publish(record)

    def handle(self, request: RetrainRequest) -> VersionRecord | None:
        """Read the window, retrain (once per request), publish the version and wait for the ack.

        A version that passes the gate is shadowed first if the model's
        shadow runs are on; a rollback request is handled by :meth:`rollback`.
        Returns ``None`` for a request whose run failed before (nothing to
        publish), and raises :class:`RequestAbandoned` for one that cannot
        yield a version (see the module notes).
        """
        if request.is_rollback:
            return self.rollback(request)
        model_id, request_id = request.model_id, request.request_id
        record = self.registry.find_by_request(model_id, request_id)
        if record is None:
            run = self.registry.start_run(model_id, request_id, self.worker_id, request.alert_ids)
            if run.state == "failed":
                log.info("request %s of %s failed before (%s); not retried", request_id, model_id, run.outcome)
                return None
            self._check(request, run.attempts)
            events, window = read_window(self.settings, model_id, request.since_ts, stop=self._stop,
                                         seek_ts=request.labeled_from_ts)
            # A first version has no champion to be shadowed next to.
            shadowed = (shadow_events(self.settings, self.registry.model(model_id)) > 0
                        and self.registry.champion(model_id) is not None)
            try:
                record = retrain(request, labeled_frame(events),
                                 ShadowRegistrations(self.registry) if shadowed else self.registry,
                                 self.store, self.settings, self.trainer_spec, window, stop=self._stop)
            except TrainerLoadError as exc:
                raise RequestAbandoned(f"the trainer of model {model_id!r} cannot be loaded: {exc}") from exc
        if record.status == "shadow":
            record = run_shadow(record, self.registry, self.store, self.settings,
                                request_id=request_id, stop=self._stop)
            log.info("model %s v%s %s: %s", model_id, record.version, record.status, record.status_reason)
        self._publish(record)
        return record

    def rollback(self, request: RetrainRequest) -> VersionRecord | None:
        """Demote ``request.model_version`` and restore the previous champion, or retrain instead; publish.

        The previous champion is restored if it does better on the labeled
        events the version served (read from ``request.since_ts``, its first
        prediction); if it does not, a challenger is trained on them and
        gated against the version (:func:`~driftline.retrainer.orchestration.rollback.roll_back`).
        Returns the restored champion or the retrain's version, or ``None``
        if there was nothing to do (rolled back already, or another version
        is champion now). A model with no earlier champion to go back to
        raises :class:`RequestAbandoned`.
        """
        model_id, request_id, version = request.model_id, request.request_id, request.model_version
        run = self.registry.start_run(model_id, request_id, self.worker_id, request.alert_ids)
        if run.state == "failed":
            return None
        record = self.registry.find_by_request(model_id, request_id)  # retrained instead, before
        if record is None and run.state == "finished":
            # Done before; the worker may have died before the announcement was acked.
            champion = self.registry.champion(model_id)
            if champion is None or champion.version != run.version:
                return None
            record = champion
        elif record is None:
            self._check(request, run.attempts)
            # The version's labeled events are in already: no wait for more.
            events, window = read_window(self.settings.replace(retrain_wait_s=0.0), model_id,
                                         request.since_ts, stop=self._stop,
                                         seek_ts=request.labeled_from_ts)
            shadowed = shadow_events(self.settings, self.registry.model(model_id)) > 0
            try:
                record = roll_back(request, labeled_frame(events),
                                   ShadowRegistrations(self.registry) if shadowed else self.registry,
                                   self.store, self.settings, self.trainer_spec, window, stop=self._stop)
            except RegistryError as exc:
                raise RequestAbandoned(f"cannot roll back v{version} of {model_id!r}: {exc}") from exc
            except TrainerLoadError as exc:
                raise RequestAbandoned(f"the trainer of model {model_id!r} cannot be loaded: {exc}") from exc
            if record is None:
                log.info("rollback of %s v%s: nothing to do, it is not the champion", model_id, version)
                return None
            if record.request_id == request_id:
                log.warning("model %s: v%s kept, the previous champion does no better live; retrained: "
                            "v%s %s", model_id, version, record.version, record.status)
            else:
                log.warning("model %s: v%s demoted, v%s is champion again", model_id, version, record.version)
        if record.status == "shadow":
            record = run_shadow(record, self.registry, self.store, self.settings,
                                request_id=request_id, stop=self._stop)
        self._publish(record)
        return record

    def _check(self, request: RetrainRequest, attempts: int) -> None:
        model_id = request.model_id
        if attempts > self.settings.retrain_max_attempts:
            raise RequestAbandoned(f"gave up: request {request.request_id} of model {model_id!r} was "
                                   f"started {attempts} times without finishing (DRIFTLINE_RETRAIN_MAX_ATTEMPTS is "
                                   f"{self.settings.retrain_max_attempts})")
        if (self.settings.require_registration and self.registry.model(model_id) is None
                and not self.registry.versions(model_id)):
            raise RequestAbandoned(f"model {model_id!r} is not registered and has no version "
                                   f"(DRIFTLINE_REQUIRE_REGISTRATION is on); register it with "
                                   f"'driftline models register {model_id}'")

    # ------------------------------------------------------------ Kafka output

    def _publish(self, record: VersionRecord) -> None:
        if record.status not in VERSION_STATUSES:
            # An archived version was announced when it was made and has been
            # superseded since; announcing it again would roll services back.
            return
        event = record.announcement(_now_ms())
        self._send(self.topics.model_versions, event.key, event.encode())
        self.stats["published"] += 1
        if record.status == "champion" and self.exporter is not None:
            self.exporter.set_serving(record.model_id, str(record.version))
        if self._mirror is not None:
            # After every announcement, whatever it was: a mirror that failed once catches up here.
            self._mirror.sync(self.registry, record.model_id)
        if record.status != "champion":
            # model-versions is compacted on model_id: a model's newest record is the one
            # that outlives compaction, and a service that reads the topic alone must find
            # the champion there, not the version just turned down.
            champion = self.registry.champion(record.model_id)
            if champion is not None:
                again = champion.announcement(_now_ms(), reason=f"still champion: v{record.version} "
                                                                f"was rejected")
                self._send(self.topics.model_versions, again.key, again.encode())
                self.stats["reannounced"] += 1

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

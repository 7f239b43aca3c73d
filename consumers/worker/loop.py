"""The monitor worker: a consumer group over the input topics, processing whole fetches.

Each poll returns whatever the consumer has fetched, across partitions. The
worker decodes it, sends what does not decode to the dead-letter topic, and
puts each model's events in its inbox; a model's inbox is processed once it
holds ``batch_size`` events, and every inbox at the end of each commit
interval. Then, in this order:

1. the outputs of the interval (labeled, alerts, retrain requests, metrics,
   dead letters) are produced in bulk and acknowledged;
2. the state of every model that changed is written to the state topic
   (with the input offsets it includes) and acknowledged;
3. the input offsets are committed.

A kill between 1 and 3 re-reads the interval's inputs, and the models whose
state was written skip what they had applied. With
``DRIFTLINE_PROCESSING_GUARANTEE=exactly_once`` the three are one Kafka
transaction instead.

Partitions are assigned with the range assignor, so a worker gets the same
partition numbers of every input topic, and a partition's state is read back
from the state topic before any of its input is processed.

A worker that cannot go on (the broker unreachable past the deadline, its
transactions fenced by another) ends the process with exit code 1 and one log
line, for a supervisor to restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, RebalanceInProgressError

from driftline.consumers.monitor import MonitorConfig, ModelMonitor
from driftline.consumers.worker.output import Outbox, Refused, Source
from driftline.consumers.worker.recovery import read_partition
from driftline.consumers.worker.task import PartitionTask, Slot
from driftline.contract import (
    Alert, DeadLetter, Event, InvalidEvent, Topics, decode_feedback, decode_model_version,
    decode_prediction, new_id,
)
from driftline.kafka.clients import aiokafka_options, failures_explained
from driftline.settings import Settings

log = logging.getLogger("driftline.monitor")


class WorkerStopped(Exception):
    """The worker cannot go on; ``str(exc)`` is the one line it ends with."""


def state_topic(settings: Settings) -> str:
    return f"{settings.topic_prefix}monitor-state"


class MonitorWorker:
    """One monitor process: ``await worker.run()`` until :meth:`stop`."""

    def __init__(self, settings: Settings, profiles=None, client_options: dict[str, Any] | None = None,
                 exporter=None) -> None:
        self.settings = settings
        self.exporter = exporter  # a driftline.observe.MetricsExporter, fed what is published
        self.config = MonitorConfig.from_settings(settings)
        self.topics = t = Topics(settings.topic_prefix)
        self.inputs = [t.predictions, t.feedback, t.model_versions]
        self.state_topic = state_topic(settings)
        self.group_id = f"{settings.topic_prefix}monitor"
        self.exactly_once = settings.processing_guarantee == "exactly_once"
        if profiles is None:
            from driftline.consumers.profiles import RegistryProfiles

            profiles = RegistryProfiles(settings.resolved_registry_url)
        self.profiles = profiles
        self.client = {**aiokafka_options(settings), **(client_options or {})}
        self.tasks: dict[int, PartitionTask] = {}
        self.outbox = Outbox()
        self.partitions: dict[str, int] = {}
        self.stats = {"events": 0, "dead_letters": 0, "flushes": 0, "models": 0}
        self._stopping = asyncio.Event()
        self._lock = asyncio.Lock()
        self._last_flush = time.monotonic()
        self.ready = False
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None

    # ------------------------------------------------------------ life cycle

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        s = self.settings
        self._producer = await self._start_producer()
        listener = _Rebalance(self)
        self._consumer = AIOKafkaConsumer(
            **self.client, group_id=self.group_id, enable_auto_commit=False,
            auto_offset_reset="earliest", isolation_level="read_committed",
            partition_assignment_strategy=(RangePartitionAssignor,),
            # A worker that dies hands its partitions over within seconds.
            session_timeout_ms=10_000, heartbeat_interval_ms=3_000,
            max_poll_interval_ms=600_000,
            fetch_max_wait_ms=50, fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=max(8 * 1024 * 1024, s.max_message_bytes + 1024),
        )
        self._consumer.subscribe(self.inputs, listener=listener)
        await self._consumer.start()
        try:
            await self._loop()
        finally:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            with contextlib.suppress(Exception):
                await self._producer.stop()

    async def _start_producer(self) -> AIOKafkaProducer:
        options = dict(acks="all", enable_idempotence=True, linger_ms=5,
                       max_batch_size=512 * 1024, max_request_size=max(self.settings.max_message_bytes * 2, 1_048_576),
                       request_timeout_ms=30_000)
        if self.exactly_once:
            worker_id = self.settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"
            options.update(transactional_id=f"{self.group_id}-{worker_id}", transaction_timeout_ms=10_000)
        producer = AIOKafkaProducer(**self.client, **options)
        await producer.start()
        outputs = [*self.topics.all(), self.state_topic]
        for topic in outputs:
            self.partitions[topic] = len(await producer.partitions_for(topic))
        self.outbox.max_bytes = await _size_limits(self.client, outputs)
        return producer

    def _renewal(self):
        """How to replace the producer after a refusal: at least once only (a transaction that
        had a record refused cannot commit; the worker then ends, and starts with the
        topics' limits known)."""
        return None if self.exactly_once else self._renew_producer

    async def _renew_producer(self) -> AIOKafkaProducer:
        old = self._producer
        with contextlib.suppress(Exception):
            await old.stop()
        # A new producer id, and the topics' limits read again: a limit lowered since the start
        # is then checked before sending.
        self._producer = await self._start_producer()
        return self._producer

    async def _loop(self) -> None:
        s = self.settings
        interval = s.commit_interval_ms / 1000.0
        while not self._stopping.is_set():
            batches = await self._consumer.getmany(timeout_ms=100, max_records=s.batch_size * 20)
            async with self._lock:
                now = _now_ms()
                for tp, records in batches.items():
                    task = self.tasks.get(tp.partition)
                    if task is None:  # revoked meanwhile
                        continue
                    self._route(task, tp, records, now)
                urgent = any(slot.urgent for task in self.tasks.values() for slot in task.models.values())
                if urgent or time.monotonic() - self._last_flush >= interval:
                    await self._flush()
        async with self._lock:
            await self._flush()
        log.info("monitor stopped after %d events", self.stats["events"])

    # ------------------------------------------------------------ inputs

    def _route(self, task: PartitionTask, tp: TopicPartition, records: list, now: int) -> None:
        t = self.topics
        limit = self.settings.max_message_bytes
        topic = tp.topic
        batch_size = self.settings.batch_size
        for rec in records:
            task.next[topic] = rec.offset + 1
            self.stats["events"] += 1
            src = Source(topic, tp.partition, rec.offset, rec.key, rec.value)
            try:
                if topic == t.predictions:
                    ev = decode_prediction(rec.value, limit)
                elif topic == t.feedback:
                    ev = decode_feedback(rec.value, limit)
                else:
                    ev = decode_model_version(rec.value, limit)
                if rec.key is None:
                    raise InvalidEvent(f"no Kafka key: the key must be the model_id {ev.model_id!r}")
                if rec.key != ev.model_id.encode("utf-8"):
                    raise InvalidEvent(f"Kafka key {rec.key[:64]!r} is not the model_id {ev.model_id!r}")
            except InvalidEvent as exc:
                self._dead(src, str(exc), now, task.models.get(_key_text(rec.key)))
                continue
            slot = task.models.get(ev.model_id)
            if topic == t.model_versions:
                if slot is not None and not slot.applied(topic, rec.offset):
                    self._settle_inbox(task, slot, now)
                    slot.monitor.answered(ev)
                    slot.dirty = True
                continue
            if slot is None:
                if self.stats["models"] >= self.settings.max_models:
                    self._dead(src, f"this worker already watches {self.settings.max_models} models "
                                    f"(DRIFTLINE_MAX_MODELS); add workers or raise the limit", now, None)
                    continue
                slot = task.slot(ev.model_id)
                self.stats["models"] += 1
            elif slot.applied(topic, rec.offset):
                continue
            slot.inbox.append(ev)
            slot.sources.append(src)
            if len(slot.inbox) >= batch_size:
                task.process(slot, now, self._failed)

    def _settle_inbox(self, task: PartitionTask, slot: Slot, now: int) -> None:
        """Events that came before an announcement are processed before it is taken in."""
        task.process(slot, now, self._failed)

    def _failed(self, slot: Slot, exc: BaseException) -> None:
        log.error("the monitor of %r failed and starts afresh: %r", slot.monitor.model_id, exc, exc_info=exc)
        model_id = slot.monitor.model_id
        slot.monitor = ModelMonitor(model_id, self.config, self.profiles)
        slot.out.alerts.append(_reset_alert(model_id, f"the monitor failed on a batch ({exc!r:.200})"))
        slot.urgent = True

    def _dead(self, src: Source, reason: str, now: int, slot: Slot | None) -> None:
        self.stats["dead_letters"] += 1
        if slot is not None:
            slot.monitor.count_invalid()
            slot.dirty = True
        log.info("dead letter %s[%d]@%d: %s", src.topic, src.partition, src.offset, reason)
        self._add_dead_letter(src, reason, now)
        if self.exporter is not None:
            self.exporter.observe_dead_letter(reason)

    def _add_dead_letter(self, src: Source, reason: str, now: int) -> None:
        t = self.topics.dead_letter
        # Base64 grows the message by a third, and the dead letter must fit its topic's limit.
        limit = self.outbox.max_bytes.get(t, self.outbox.default_max_bytes)
        room = max((limit - 4096 - len(reason)) * 3 // 4, 1024)
        letter = DeadLetter.of(src.topic, src.partition, src.offset, reason, src.value, now,
                               src.key, max_raw_bytes=room)
        self.outbox.add(t, self.partitions[t], letter.key, letter.encode(), now)

    # ------------------------------------------------------------ commit

    async def _flush(self) -> None:
        now = _now_ms()
        state = []
        for task in self.tasks.values():
            for slot in task.models.values():
                task.process(slot, now, self._failed)
                self._collect(slot, now)
            for model_id, why in task.reset_models:
                self._collect_alert(_reset_alert(model_id, why), now)
            task.reset_models = []
        offsets = {TopicPartition(topic, task.partition): off
                   for task in self.tasks.values() for topic, off in task.next.items()}
        try:
            if self.exactly_once:
                await self._producer.begin_transaction()
            send = dict(deadline_s=self.settings.send_deadline_s, renew=self._renewal())
            refused = await self.outbox.send(self._producer, **send)
            for r in refused:
                self._refused(r, now)
            if refused:  # their dead letters
                for r in await self.outbox.send(self._producer, **send):
                    log.error("dead letter refused too, dropped: %s", r.reason)
            for task in self.tasks.values():
                for key, value in task.state_records(self.inputs):
                    state.append((task.partition, key, value))
            for partition, key, value in state:
                self.outbox.add(self.state_topic, self.partitions[self.state_topic], key, value, now,
                                partition=partition)
            for r in await self.outbox.send(self._producer, **send):
                raise WorkerStopped(f"the state topic refused a record: {r.reason}")
            if self.exactly_once:
                if offsets:
                    await self._producer.send_offsets_to_transaction(offsets, self.group_id)
                await self._producer.commit_transaction()
            elif offsets:
                try:
                    await self._consumer.commit(offsets)
                except (CommitFailedError, IllegalStateError, RebalanceInProgressError) as exc:
                    # Outputs and state are written: whoever reads these inputs again skips
                    # what the state says was applied.
                    log.warning("offsets not committed (%s); the state written covers them", exc)
        except WorkerStopped:
            raise
        except Exception as exc:
            raise WorkerStopped(f"could not write the monitor's output and state: {exc!r:.300}") from exc
        self.stats["flushes"] += 1
        self._last_flush = time.monotonic()
        if self.exporter is not None:
            self._report_progress()

    def _report_progress(self) -> None:
        """Each input partition's lag behind its end, and each model's state size, to /metrics."""
        for tp in self._consumer.assignment():
            task = self.tasks.get(tp.partition)
            end = self._consumer.highwater(tp)
            done = None if task is None else task.next.get(tp.topic)
            if end is None or done is None or tp.topic == self.topics.model_versions:
                continue
            self.exporter.set_lag(tp.partition, end - done, tp.topic)
        for task in self.tasks.values():
            for model_id, slot in task.models.items():
                self.exporter.set_state_bytes(model_id, slot.state_bytes)

    def _collect(self, slot: Slot, now: int) -> None:
        o = slot.out
        t = self.topics
        for name, items in ((t.labeled, o.labeled), (t.alerts, o.alerts),
                            (t.retrain_requests, o.retrain), (t.metrics, o.metrics)):
            for ev in items:
                self.outbox.add(name, self.partitions[name], ev.key, ev.encode(), now)
        for alert in o.alerts:
            log.warning("alert %s %s %s: %s", alert.model_id, alert.kind, alert.feature or "", alert.message)
        if self.exporter is not None:
            for ev in o.metrics:
                self.exporter.observe_metrics(ev)
            for alert in o.alerts:
                self.exporter.observe_alert(alert)
            for _src, why in slot.dead:
                self.exporter.observe_dead_letter(why)
        for src, why in slot.dead:
            self.stats["dead_letters"] += 1
            log.info("dead letter %s[%d]@%d: %s", src.topic, src.partition, src.offset, why)
            self._add_dead_letter(src, why, now)
        slot.out.labeled, slot.out.alerts, slot.out.retrain, slot.out.metrics = [], [], [], []
        slot.dead = []
        slot.urgent = False

    def _collect_alert(self, alert: Event, now: int) -> None:
        t = self.topics.alerts
        log.warning("alert %s: %s", alert.model_id, alert.message)  # type: ignore[attr-defined]
        self.outbox.add(t, self.partitions[t], alert.key, alert.encode(), now)
        if self.exporter is not None:
            self.exporter.observe_alert(alert)

    def _refused(self, r: Refused, now: int) -> None:
        """A record refused for good: its input goes to dead-letter with the reason."""
        if r.topic == self.topics.dead_letter:
            log.error("a dead letter was refused, dropped: %s", r.reason)
            return
        if r.source is not None:
            self._add_dead_letter(r.source, f"output to {r.topic} refused: {r.reason}", now)
        else:
            src = Source(r.topic, -1, -1, r.key, r.value)
            self._add_dead_letter(src, f"output to {r.topic} refused: {r.reason}", now)

    # ------------------------------------------------------------ rebalancing

    async def assigned(self, assigned: set[TopicPartition]) -> None:
        async with self._lock:
            for p in sorted({tp.partition for tp in assigned} - set(self.tasks)):
                task = PartitionTask(p, self.config, self.profiles)
                values = await read_partition(self.client, self.state_topic, p)
                task.restore(values)
                self.tasks[p] = task
            self.stats["models"] = sum(len(t.models) for t in self.tasks.values())
            self.ready = True

    async def revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:
            await self._flush()
            for p in {tp.partition for tp in revoked}:
                self.tasks.pop(p, None)
            if self.exporter is not None:
                for tp in revoked:
                    self.exporter.forget_lag(tp.partition, tp.topic)
            self.stats["models"] = sum(len(t.models) for t in self.tasks.values())


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, worker: MonitorWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked):
        await self.worker.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned):
        await self.worker.assigned(set(assigned))


async def _size_limits(client: dict[str, Any], topics: list[str]) -> dict[str, int]:
    """Each topic's ``max.message.bytes``, where the cluster tells (the largest batch it takes)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(**client)
    limits: dict[str, int] = {}
    try:
        await admin.start()
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t, {"max.message.bytes": None}) for t in topics])
        for answer in answers:
            for _code, _msg, _kind, name, entries in answer.resources:
                for entry in entries:
                    if entry[0] == "max.message.bytes" and str(entry[1]).isdigit():
                        limits[name] = int(entry[1])
    except Exception as exc:  # the broker's default then
        log.warning("could not read the topics' size limits: %r", exc)
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return limits


def _reset_alert(model_id: str, why: str) -> Alert:
    now = _now_ms()
    return Alert(alert_id=new_id(), model_id=model_id, model_version="0", kind="data_quality",
                 severity="warning", detector="state", feature=None, value=0.0, threshold=0.0,
                 event_ts=0, ts=now, message=f"monitoring of {model_id} starts afresh: {why}",
                 episode_id=new_id(), status="firing")


def _key_text(key: bytes | None) -> str | None:
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def run(settings: Settings, client_options: dict[str, Any] | None = None) -> None:
    """Run a monitor worker until SIGINT/SIGTERM; exit code 1 with one log line if it cannot go on."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from driftline.observe.worker import observed

    worker = MonitorWorker(settings, client_options=client_options)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()

    _tune_runtime()
    try:
        with failures_explained(settings), \
                observed(settings, ready=lambda: worker.ready) as worker.exporter:
            asyncio.run(main())
    except WorkerStopped as exc:
        log.critical("monitor stopped: %s", exc)
        raise SystemExit(1) from None
    except (KafkaError, OSError) as exc:
        log.critical("monitor stopped: %s", str(exc) or type(exc).__name__)
        raise SystemExit(1) from None


def _tune_runtime() -> None:
    """Settings of the interpreter for a worker that processes events in one thread.

    numpy's BLAS would start a thread per core for each small matrix product of
    a detector; in a single-threaded worker those threads only contend with it
    (scaling out is by more workers). Python's collector would walk every
    pending prediction again and again as the join creates and frees entries;
    collecting less often keeps that work in proportion.
    """
    with contextlib.suppress(Exception):
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    gc.set_threshold(100_000, 50, 100)

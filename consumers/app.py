"""The monitor worker: a faust app whose one agent decodes, calls the monitor, and produces.

State lives in faust tables (memory store, changelog recovery): one entry per
model with its :class:`ModelMonitor` (its large arrays that do not change,
such as references, as separate blobs written once: see
:mod:`driftline.consumers.state`), and one entry per prediction that is still
waiting for its label. All write their changelog to the partition the model's
events came from, so a worker that takes over a partition recovers exactly the
state of the models it now reads.

Offsets are committed only after what a batch produced is acknowledged:
``take_events`` acks the batch after the loop body, and the body awaits every
send; faust flushes its producer before each commit.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from typing import Any

import faust
from faust.serializers import codecs
from faust.types import EventT

from driftline.consumers import state as snapshots
from driftline.consumers.join import SEP, model_of_key
from driftline.consumers.monitor import ModelMonitor, MonitorConfig
from driftline.consumers.profiles import RegistryProfiles
from driftline.contract import (
    DeadLetter, Event, InvalidEvent, ModelVersion, Topics, decode_feedback, decode_model_version,
    decode_prediction,
)
from driftline.settings import Settings

log = logging.getLogger(__name__)


class StateCodec(codecs.Codec):
    """Pickle for the tables' changelogs, which only this worker writes and reads.

    A value that no longer unpickles (state written by an older driftline)
    reads as missing, so that model starts afresh instead of blocking the
    recovery of every other model.
    """

    def _dumps(self, obj: Any) -> bytes:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)

    def _loads(self, s: bytes) -> Any:
        try:
            return pickle.loads(s)
        except Exception as exc:  # any failure means the same thing: unusable state
            log.warning("dropping monitor state that cannot be read back: %r", exc)
            return None


codecs.register("driftline-state", StateCodec())


class ModelTable(faust.Table):
    """A table keyed by ``model_id`` (or ``model_id`` + separator + anything).

    faust picks a changelog partition from the event being processed, which a
    batched agent does not have; the agent tells the table instead where each
    model's events come from.
    """

    def __init__(self, *args: Any, values: str = "driftline-state", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Keys are model ids; values are pending tuples, or records and blobs that are
        # bytes already, which only this worker writes and reads (faust would pick
        # JSON from the types). faust writes bytes as they are whatever the
        # serializer, so tables of bytes must read them back raw too.
        self.key_serializer = "raw"
        self.value_serializer = values
        self.routes: dict[str, int] = {}

    def partition_for_key(self, key: Any) -> int | None:
        return self.routes[model_of_key(key)]


def _table(app: faust.App, name: str, partitions: int, values: str = "driftline-state") -> ModelTable:
    table = ModelTable(app, name=name, default=None, beacon=app.tables.beacon, values=values,
                       partitions=partitions, key_type=str, help=f"driftline monitor {name}")
    app.tables.add(table)
    return table


class MonitorWorker:
    """Routes a batch of raw messages to the per-model monitors and sends their output."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.settings = settings
        self.config = MonitorConfig.from_settings(settings)
        t = self.topics = Topics(settings.topic_prefix)
        self.state = _table(app, "state", settings.partitions, values="raw")
        self.blobs = _table(app, "blobs", settings.partitions, values="raw")
        self.pending = _table(app, "pending", settings.partitions)
        self._blob_names: dict[str, set[str]] = {}  # model -> blobs its stored state needs
        raw = {"key_serializer": "raw", "value_serializer": "raw"}
        self.out = {name: app.topic(getattr(t, name), **raw)
                    for name in ("labeled", "alerts", "retrain_requests", "metrics", "dead_letter")}
        # model-versions too (keyed by model_id like the events, so co-partitioned): a
        # request the gate turned down no longer holds a new drift back (ModelMonitor.answered).
        self.source = app.topic(t.predictions, t.feedback, t.model_versions, **raw)
        self.monitors: dict[str, ModelMonitor] = {}
        self.profiles = RegistryProfiles(settings.resolved_registry_url)
        self.n_events = 0
        self.n_dead = 0

    def forget(self) -> None:
        """Drop cached monitors, e.g. after a rebalance; they are reloaded from the tables."""
        self.monitors.clear()
        self._blob_names.clear()

    def monitor(self, model_id: str) -> ModelMonitor:
        mon = self.monitors.get(model_id)
        if mon is None:
            mon = self._restore(model_id)
            if mon is None:
                mon = ModelMonitor(model_id, self.pending, self.config, self.profiles)
            self.monitors[model_id] = mon
        return mon

    def _restore(self, model_id: str) -> ModelMonitor | None:
        stored = self.state.get(model_id)
        if stored is None:
            return None
        try:
            mon = snapshots.load(stored, lambda name: self.blobs[f"{model_id}{SEP}{name}"])
        except Exception as exc:  # a record or blob that cannot be read: start afresh
            log.warning("dropping the monitor state of %s, it cannot be read back: %r", model_id, exc)
            return None
        self._blob_names[model_id] = set(snapshots.referenced(stored))
        return mon.attach(self.pending, self.profiles)

    def _save(self, model_id: str, mon: ModelMonitor) -> None:
        """Write the state record, blobs it names that are not stored yet, and drop unused ones."""
        record, blobs = snapshots.dump(mon)
        before = self._blob_names.get(model_id, set())
        for name, data in blobs.items():
            if name not in before:
                self.blobs[f"{model_id}{SEP}{name}"] = data
        self.state[model_id] = record
        # Deleted after the record that stops naming them, so a crash in between
        # leaves a readable state (and a blob too many, not one too few).
        for name in before - blobs.keys():
            self.blobs.pop(f"{model_id}{SEP}{name}", None)
        self._blob_names[model_id] = set(blobs)

    async def handle(self, events: list[EventT]) -> None:
        now = int(time.time() * 1000)
        sends: list[asyncio.Future] = []
        groups: dict[str, tuple[int, list]] = {}
        answers: list[ModelVersion] = []
        limit = self.settings.max_message_bytes
        for event in events:
            msg = event.message
            try:
                if msg.topic == self.topics.predictions:
                    decoded = decode_prediction(msg.value, limit)
                elif msg.topic == self.topics.model_versions:
                    decoded = decode_model_version(msg.value, limit)
                else:
                    decoded = decode_feedback(msg.value, limit)
                if msg.key is not None and msg.key != decoded.model_id.encode("utf-8"):
                    raise InvalidEvent(f"Kafka key {msg.key[:64]!r} is not the model_id "
                                       f"{decoded.model_id!r}")
            except InvalidEvent as exc:
                sends.append(await self._dead_letter(msg, str(exc), now))
                continue
            if isinstance(decoded, ModelVersion):
                answers.append(decoded)
                continue
            groups.setdefault(decoded.model_id, (msg.partition, []))[1].append(decoded)
        for announced in answers:
            # Only a model this worker watches now: its state is written where its events come from.
            mon = self.monitors.get(announced.model_id)
            if mon is not None and announced.model_id in self.state.routes:
                mon.answered(announced)
                self._save(announced.model_id, mon)
        self.n_events += len(events)
        for model_id, (partition, batch) in groups.items():
            self.state.routes[model_id] = self.pending.routes[model_id] = partition
            self.blobs.routes[model_id] = partition
            mon = self.monitor(model_id)
            out = mon.process(batch, now)
            for name, items in (("labeled", out.labeled), ("alerts", out.alerts),
                                ("retrain_requests", out.retrain), ("metrics", out.metrics)):
                for item in items:
                    sends.append(await self._send(name, item))
            for alert in out.alerts:
                log.warning("alert %s %s %s: %s", alert.model_id, alert.kind,
                            alert.feature or "", alert.message)
            self._save(model_id, mon)
        if sends:
            await asyncio.gather(*sends)

    async def _send(self, name: str, event: Event) -> asyncio.Future:
        ts = getattr(event, "ts", None)
        return await self.out[name].send(key=event.key, value=event.encode(),
                                         timestamp=None if ts is None else ts / 1000.0)

    async def _dead_letter(self, msg: Any, reason: str, now: int) -> asyncio.Future:
        self.n_dead += 1
        if msg.key:
            model_id = msg.key.decode("utf-8", "replace")
            self.state.routes[model_id] = self.pending.routes[model_id] = msg.partition
            self.blobs.routes[model_id] = msg.partition
            self.monitor(model_id).count_invalid()
        dl = DeadLetter.of(msg.topic, msg.partition, msg.offset, reason, msg.value, now, msg.key)
        log.info("dead letter %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, reason)
        return await self.out["dead_letter"].send(key=msg.key, value=dl.encode())


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{server.strip()}" for server in bootstrap.split(",")]


def create_app(settings: Settings) -> tuple[faust.App, MonitorWorker]:
    app = faust.App(
        f"{settings.topic_prefix}monitor",
        broker=broker_urls(settings.kafka_bootstrap),
        store="memory://",
        datadir=str(settings.home_path / "monitor"),
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        autodiscover=False,
        # A worker that dies hands its partitions over within seconds, not a minute.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        # The changelog topics are ours, so faust may create them.
        topic_allow_declare=True,
    )
    worker = MonitorWorker(app, settings)

    # Concurrency 1: with more, faust can commit offsets past messages still in
    # flight (faust-streaming issue #606).
    @app.agent(worker.source, name="monitor", concurrency=1)
    async def monitor(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within_s):
            await worker.handle(events)

    @app.on_partitions_revoked.connect
    async def _revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        worker.forget()

    return app, worker


def run_monitor(settings: Settings) -> None:
    """Run a monitor worker until SIGINT/SIGTERM."""
    from faust import Worker

    from driftline.kafka_admin import ensure_topics

    ensure_topics(settings)
    app, _ = create_app(settings)
    worker = Worker(app, loglevel=settings.log_level.lower().replace("warning", "warn"), quiet=True)
    # faust's terminal spinner turns the root logger to DEBUG, so every client
    # library formats a debug record per message: a third of the CPU time.
    worker.spinner = None
    worker.execute_from_commandline()

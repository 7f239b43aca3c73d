"""Reading a model's retained records: a plain consumer, no group, nothing committed or written.

The span is resolved with kafka-python (offsets for times, one record's
timestamp); the records are fetched with aiokafka, which reads them several
times faster. Every partition of a topic is read and the model's records kept by their key
(the ``model_id``), so records a service published with any partitioner are
found. The span to read is fixed when the reader starts (the end offsets at
that moment, unless ``--to`` says otherwise), so a replay of a live topic ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from driftline.exceptions import DriftlineError
from driftline.replay.bounds import Bound
from driftline.settings import Settings

_STALL_S = 30.0  # no record and no progress this long: the broker is not answering


def _default_partition(key: bytes, partitions: int) -> int:
    """The partition the key goes to with the default partitioner of driftline's producers."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % partitions


class LogReader:
    """The model's records on the input topics between two :class:`Bound` s, and its alerts.

    ``spans`` maps each topic to ``{partition: (start, end)}`` once
    :meth:`resolve` has run; offsets in a bound refer to the predictions
    partition the model's key maps to with the default (murmur2) partitioner.
    """

    def __init__(self, settings: Settings, model_id: str, start: Bound | None = None,
                 end: Bound | None = None) -> None:
        from driftline.contract import Topics

        self.settings = settings
        self.model_id = model_id
        self.key = model_id.encode("utf-8")
        self.start, self.end = start, end
        self.topics = Topics(settings.topic_prefix)
        self.spans: dict[str, dict[int, tuple[int, int]]] = {}
        self.times: tuple[int | None, int | None] = (None, None)
        self._consumers: list[Any] = []

    # ------------------------------------------------------------ clients

    def _consumer(self) -> Any:
        from kafka import KafkaConsumer

        from driftline.kafka.clients import connect

        c = connect(KafkaConsumer, self.settings, client_id="driftline-replay", group_id=None,
                    enable_auto_commit=False, isolation_level="read_committed",
                    max_partition_fetch_bytes=max(8 * 1024 * 1024, self.settings.max_message_bytes + 1024),
                    fetch_max_bytes=64 * 1024 * 1024)
        self._consumers.append(c)
        return c

    def close(self) -> None:
        for c in self._consumers:
            with contextlib.suppress(Exception):
                c.close()
        self._consumers = []

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ the span

    def resolve(self) -> None:
        """Turn the bounds into offsets on every partition of the input topics."""
        from kafka import TopicPartition

        c = self._consumer()
        t = self.topics
        parts: dict[str, list[TopicPartition]] = {}
        for topic in (t.predictions, t.feedback, t.alerts):
            found = c.partitions_for_topic(topic)
            if not found:
                raise DriftlineError(f"topic {topic} does not exist; is {self.settings.topic_prefix!r} "
                                     f"the prefix the services publish under (DRIFTLINE_TOPIC_PREFIX)?")
            parts[topic] = [TopicPartition(topic, p) for p in sorted(found)]
        every = [tp for tps in parts.values() for tp in tps]
        first, last = c.beginning_offsets(every), c.end_offsets(every)
        home = TopicPartition(t.predictions, _default_partition(self.key, len(parts[t.predictions])))

        def at(bound: Bound | None, default: str) -> tuple[dict, int | None]:
            """(offset per partition, time) of one bound."""
            if bound is None:
                return (first if default == "first" else last), None
            when = bound.time_ms
            exact: dict = {}
            if bound.offset is not None:
                off = min(max(bound.offset, first[home]), last[home])
                exact[home] = off
                when = self._timestamp_at(c, home, off, last[home])
            if when is None:  # an offset at the end: nothing after it
                return {**{tp: last[tp] for tp in every}, **exact}, None
            found = c.offsets_for_times({tp: when for tp in every})
            offsets = {tp: (last[tp] if found.get(tp) is None else found[tp].offset) for tp in every}
            return {**offsets, **exact}, when

        starts, t0 = at(self.start, "first")
        ends, t1 = at(self.end, "last")
        self.times = (t0, t1)
        for topic in (t.predictions, t.feedback):
            self.spans[topic] = {tp.partition: (starts[tp], max(starts[tp], ends[tp])) for tp in parts[topic]}
        # The live alerts are read whole: which of them concern the span is told by their event times.
        self.spans[t.alerts] = {tp.partition: (first[tp], last[tp]) for tp in parts[t.alerts]}
        if t0 is not None and t1 is not None and t1 <= t0:
            raise DriftlineError(f"--to ({self.end.describe()}) is not after --from ({self.start.describe()})")

    def _timestamp_at(self, c: Any, tp: Any, offset: int, end: int) -> int | None:
        """The Kafka timestamp of the first record at or after ``offset``; None past the end."""
        if offset >= end:
            return None
        c.assign([tp])
        c.seek(tp, offset)
        deadline = time.monotonic() + _STALL_S
        while time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500, max_records=1).values():
                if recs:
                    return recs[0].timestamp
            if c.position(tp) >= end:
                return None
        raise DriftlineError(f"no record could be read from {tp.topic}[{tp.partition}] at offset {offset} "
                             f"within {_STALL_S:.0f} s")

    @property
    def total_records(self) -> int:
        """Records of every model in the span of both input topics (an upper bound on the events)."""
        t = self.topics
        return sum(e - s for topic in (t.predictions, t.feedback) for s, e in self.spans[topic].values())

    # ------------------------------------------------------------ records

    def records(self, topic: str, on_read: Callable[[int], None] | None = None) -> Iterator[Any]:
        """The model's records of ``topic`` in its span, lazily, each partition in offset order.

        ``on_read`` is told how many records (of any model) each fetch read. The
        fetching runs on aiokafka in a thread of its own, a few fetches ahead of
        the reader.
        """
        todo = {p: span for p, span in self.spans[topic].items() if span[0] < span[1]}
        if not todo:
            return
        ahead: queue.Queue = queue.Queue(maxsize=8)
        stop = threading.Event()
        fetcher = threading.Thread(target=self._fetch, args=(topic, todo, ahead, stop),
                                   name=f"replay-{topic}", daemon=True)
        fetcher.start()
        try:
            while True:
                item = ahead.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                n, recs = item
                if on_read is not None:
                    on_read(n)
                yield from recs
        finally:
            stop.set()
            while fetcher.is_alive():
                with contextlib.suppress(queue.Empty):
                    ahead.get(timeout=0.1)
            fetcher.join()

    def _fetch(self, topic: str, todo: dict[int, tuple[int, int]], ahead: queue.Queue,
               stop: threading.Event) -> None:
        def put(item: Any) -> None:
            while not stop.is_set():
                with contextlib.suppress(queue.Full):
                    ahead.put(item, timeout=0.2)
                    return

        try:
            asyncio.run(self._fetch_async(topic, todo, put, stop))
        except BaseException as exc:  # handed to the reader, which raises it
            put(exc)
        else:
            put(None)

    async def _fetch_async(self, topic: str, todo: dict[int, tuple[int, int]],
                           put: Callable[[Any], None], stop: threading.Event) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from driftline.kafka.clients import aiokafka_options

        c = AIOKafkaConsumer(**aiokafka_options(self.settings), client_id="driftline-replay",
                             group_id=None, enable_auto_commit=False, isolation_level="read_committed",
                             fetch_max_bytes=64 * 1024 * 1024,
                             max_partition_fetch_bytes=max(8 * 1024 * 1024,
                                                           self.settings.max_message_bytes + 1024))
        await c.start()
        try:
            spans = {TopicPartition(topic, p): span for p, span in todo.items()}
            c.assign(list(spans))
            for tp, (start, _) in spans.items():
                c.seek(tp, start)
            last_progress = time.monotonic()
            while spans and not stop.is_set():
                got = await c.getmany(timeout_ms=500, max_records=5000)
                n, kept = 0, []
                for tp, recs in got.items():
                    if tp not in spans:
                        continue
                    end = spans[tp][1]
                    for rec in recs:
                        if rec.offset >= end:
                            break
                        n += 1
                        if rec.key == self.key:
                            kept.append(rec)
                for tp in list(spans):
                    # Transaction markers take offsets too: the position tells where a partition is.
                    if await c.position(tp) >= spans[tp][1]:
                        del spans[tp]
                        c.pause(tp)
                if got:
                    last_progress = time.monotonic()
                    put((n, kept))
                elif time.monotonic() - last_progress > _STALL_S:
                    raise DriftlineError(f"reading {topic} stalled for {_STALL_S:.0f} s before the end "
                                         f"of the span; is the broker still up?")
        finally:
            await c.stop()

"""Everything the monitor writes, produced in bulk: one record batch per topic-partition.

Records are collected with the input each one came from (:class:`Source`).
:meth:`Outbox.send` builds aiokafka record batches directly, sends them all,
and awaits every acknowledgement once. A record the broker refuses for good
is reported with the broker's reason and its source, so the worker can send
that input to the dead-letter topic and go on with the rest; retriable
errors are retried with backoff until ``deadline_s``, then raised.

Records larger than the topic accepts (``max.message.bytes``, which the
worker reads from the cluster) are refused here, before they reach the
broker, with the same kind of reason.

An idempotent producer numbers its batches per partition, and a batch the
broker refused for good has used its numbers: every later batch to that
partition would then be refused as out of order. After a refusal the
producer is therefore replaced (``renew``), and batches refused as out of
order are sent again with the new one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError, OutOfOrderSequenceNumber
from aiokafka.partitioner import murmur2

log = logging.getLogger(__name__)

# Bytes a record costs in a batch beyond its key and value (headers, varints).
_RECORD_OVERHEAD = 70


@dataclasses.dataclass(frozen=True)
class Source:
    """The input a record came from: enough to dead-letter it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclasses.dataclass
class Refused:
    """A record the broker (or the topic's size limit) refused for good."""

    topic: str
    key: bytes | None
    value: bytes
    source: Source | None
    reason: str


@dataclasses.dataclass
class _Pending:
    key: bytes | None
    value: bytes | None  # None: a tombstone
    timestamp_ms: int
    source: Source | None


def partition_of(key: bytes | None, partitions: int, fallback: int = 0) -> int:
    """The partition Kafka's default partitioner picks for ``key`` (any client agrees on it)."""
    if key is None:
        return fallback % partitions
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Outbox:
    """Records to write, by topic and partition, until :meth:`send` writes them."""

    def __init__(self, max_bytes: dict[str, int] | None = None, default_max_bytes: int = 1_048_588) -> None:
        self._records: dict[tuple[str, int], list[_Pending]] = {}
        self.max_bytes = dict(max_bytes or {})
        self.default_max_bytes = default_max_bytes
        self._spread = itertools.count()
        self.refused: list[Refused] = []

    def __len__(self) -> int:
        return sum(len(v) for v in self._records.values())

    def add(self, topic: str, partitions: int, key: bytes | None, value: bytes | None, timestamp_ms: int,
            source: Source | None = None, partition: int | None = None) -> None:
        if partition is None:
            partition = partition_of(key, partitions, next(self._spread))
        limit = self.max_bytes.get(topic, self.default_max_bytes)
        size = len(value or b"") + (len(key) if key else 0) + _RECORD_OVERHEAD
        if size > limit:
            self.refused.append(Refused(topic, key, value, source,
                                        f"the {len(value)}-byte record for {topic} is over the "
                                        f"topic's limit of {limit} bytes (max.message.bytes)"))
            return
        self._records.setdefault((topic, partition), []).append(_Pending(key, value, timestamp_ms, source))

    async def send(self, producer: Any, *, deadline_s: float = 300.0,
                   renew: Callable[[], Awaitable[Any]] | None = None) -> list[Refused]:
        """Send everything collected; return what was refused for good (this call's and earlier ones).

        ``renew`` returns a fresh producer to go on with after the broker refused
        a record (see the module docstring); without it the producer is kept.
        """
        records, self._records = self._records, {}
        refused, self.refused = self.refused, []
        if records:
            refused += await _send_all(producer, records, deadline_s, renew)
        return refused


class SendTimeout(KafkaError):
    """Records the broker did not acknowledge before the deadline (it is down, or unreachable)."""


async def _send_all(producer: Any, records: dict[tuple[str, int], list[_Pending]],
                    deadline_s: float, renew: Callable[[], Awaitable[Any]] | None = None) -> list[Refused]:
    refused: list[Refused] = []
    started = time.monotonic()
    # (topic, partition), records, and whether to send them one record a batch
    todo = [(tp, items, False) for tp, items in records.items()]
    backoff = 0.1
    while todo:
        sent = []
        for tp, items, single in todo:
            for batch, members in _batches(producer, items, single):
                future = await producer.send_batch(batch, tp[0], partition=tp[1])
                sent.append((tp, members, future))
        results = await asyncio.gather(*(f for _, _, f in sent), return_exceptions=True)
        retry: dict[tuple[tuple[str, int], bool], list[_Pending]] = {}
        waiting = False  # a retriable error: the broker needs time (a leader moving, a restart)
        broken = False  # a refusal left the producer's numbering of a partition behind a gap
        for (tp, members, _), result in zip(sent, results):
            if not isinstance(result, BaseException):
                continue
            if not isinstance(result, KafkaError):
                raise result
            if getattr(result, "retriable", False):
                waiting = True
                retry.setdefault((tp, len(members) == 1), []).extend(members)
            elif isinstance(result, OutOfOrderSequenceNumber) and renew is not None:
                broken = True
                retry.setdefault((tp, len(members) == 1), []).extend(members)
            elif len(members) == 1:
                p = members[0]
                refused.append(Refused(tp[0], p.key, p.value, p.source, _reason(result)))
                broken = True
            else:  # one or more records of the batch refused: find them one by one
                retry.setdefault((tp, True), []).extend(members)
                broken = True
        if broken and renew is not None:
            log.warning("the broker refused a record; going on with a new producer")
            producer = await renew()
        if not retry:
            break
        if time.monotonic() - started > deadline_s:
            topics = sorted({tp[0] for tp, _ in retry})
            raise SendTimeout(f"records for {', '.join(topics)} were not acknowledged "
                              f"within {deadline_s:.0f} s")
        if waiting:
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
        todo = [(tp, items, single) for (tp, single), items in retry.items()]
    return refused


def _batches(producer: Any, items: list[_Pending], single: bool):
    """``(batch, the records in it)``, filling each batch as far as the producer allows."""
    batch, members = producer.create_batch(), []
    for p in items:
        if single and members:
            batch.close()
            yield batch, members
            batch, members = producer.create_batch(), []
        if batch.append(key=p.key, value=p.value, timestamp=p.timestamp_ms) is None:
            if members:
                batch.close()
                yield batch, members
                batch, members = producer.create_batch(), []
            if batch.append(key=p.key, value=p.value, timestamp=p.timestamp_ms) is None:
                # Larger than a whole batch may be: on its own, as the producer would send it.
                raise ValueError(f"a {len(p.value or b'')}-byte record does not fit in a batch")
        members.append(p)
    if members:
        batch.close()
        yield batch, members


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc)
    return f"the broker refused the record: {name}" + (f" ({text})" if text and text != name else "")

"""Reading a partition of the state topic back, to its end, before the worker processes it.

The worker calls :func:`read_partition` for every partition it is assigned,
before it processes any input from it: processing waits for recovery. The
reader is an ``assign()``-ed consumer without a group, reading committed
records only, so an aborted transaction of a worker that died leaves nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)


async def read_partition(consumer_options: dict[str, Any], topic: str, partition: int,
                         timeout_s: float = 300.0) -> dict[bytes, bytes]:
    """The latest value of every key in ``topic``'s ``partition`` (deleted keys left out)."""
    consumer = AIOKafkaConsumer(**consumer_options, group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed", auto_offset_reset="earliest")
    await consumer.start()
    started = time.monotonic()
    values: dict[bytes, bytes] = {}
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        while await consumer.position(tp) < end:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"reading {topic}[{partition}] back took over {timeout_s:.0f} s")
            batches = await consumer.getmany(tp, timeout_ms=500, max_records=10_000)
            for record in batches.get(tp, []):
                if record.key is None:
                    continue
                if record.value is None:
                    values.pop(record.key, None)
                else:
                    values[record.key] = record.value
            if not batches:
                # The end offset of a read_committed reader is the last stable offset: an
                # open transaction holds it until the transaction ends or times out.
                await asyncio.sleep(0.05)
                end = (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()
    log.info("read %d state records back from %s[%d] in %.2f s", len(values), topic, partition,
             time.monotonic() - started)
    return values

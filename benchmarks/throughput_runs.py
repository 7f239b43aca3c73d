"""The stream of benchmarks/throughput.py and its runs of plain clients: the raw loops and the floor.

Each run returns what the table prints; none of them prints. The stream is
made once and preloaded, byte for byte, under each topic prefix, so every run
reads the same records.

>>> ids = spread_models(4, 2)
>>> sorted(partition_of(m.encode(), 4) for m in ids)
[0, 0, 1, 1, 2, 2, 3, 3]
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from driftline.consumers.worker.output import partition_of
from driftline.contract import Topics, decode_feedback, decode_prediction
from driftline.kafka.clients import aiokafka_options, start_aiokafka
from driftline.kafka_admin import admin_client
from driftline.settings import Settings

NUMERIC = 8
COUNTRIES = ("NL", "DE", "FR", "US")
# What the monitor writes besides its inputs (topic name without the prefix).
OUTPUTS = ("labeled", "metrics", "alerts", "retrain-requests", "dead-letter", "monitor-state")


def spread_models(partitions: int, per_partition: int) -> list[str]:
    """Model ids whose keys hash (as every Kafka client's default partitioner does) evenly over ``partitions``."""
    chosen: dict[int, list[str]] = {p: [] for p in range(partitions)}
    for i in itertools.count():
        model = f"bench-m{i}"
        ids = chosen[partition_of(model.encode(), partitions)]
        if len(ids) < per_partition:
            ids.append(model)
        if all(len(v) == per_partition for v in chosen.values()):
            return [m for p in range(partitions) for m in chosen[p]]
    raise AssertionError("unreachable")


@dataclasses.dataclass
class Stream:
    """Encoded records by input topic suffix: ``(key, value)`` in the order they are produced."""

    records: dict[str, list[tuple[bytes, bytes]]]
    models: list[str]

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.records.values())

    def count(self, suffix: str) -> int:
        return len(self.records[suffix])


def make_stream(n: int, fraction: float, models: list[str], seed: int = 0) -> Stream:
    """``n`` predictions (8 numeric features, 1 categorical), round robin over ``models``; labels for ``fraction``."""
    rng = np.random.default_rng(seed)
    t0 = time.time_ns() // 1_000_000 - n  # one prediction a millisecond, ending now
    X = rng.normal(size=(n, NUMERIC))
    cats = rng.choice(COUNTRIES, size=n)
    labels = (X[:, 0] + X[:, 1] > 0).astype(int)
    preds = np.where(rng.random(n) < 0.1, 1 - labels, labels)
    gets_label = rng.random(n) < fraction
    names = [f"x{j}" for j in range(NUMERIC)]
    predictions, feedback = [], []
    for i in range(n):
        model = models[i % len(models)]
        key = model.encode()
        features: dict[str, Any] = dict(zip(names, X[i].tolist()))
        features["country"] = str(cats[i])
        ev = {"event_id": f"p{i}", "model_id": model, "model_version": "1", "ts": t0 + i,
              "features": features, "prediction": int(preds[i])}
        predictions.append((key, json.dumps(ev).encode()))
        if gets_label[i]:
            fb = {"event_id": f"f{i}", "prediction_id": f"p{i}", "model_id": model,
                  "ts": t0 + i + 2000, "label": int(labels[i])}
            feedback.append((key, json.dumps(fb).encode()))
    return Stream({"predictions": predictions, "feedback": feedback}, models)


# ---------------------------------------------------------------- producing


def _producer(settings: Settings) -> AIOKafkaProducer:
    # As the monitor's own producer is set up (consumers/worker/loop.py).
    return AIOKafkaProducer(**aiokafka_options(settings), acks="all", enable_idempotence=True,
                            linger_ms=5, max_batch_size=512 * 1024, request_timeout_ms=30_000,
                            max_request_size=max(settings.max_message_bytes * 2, 1_048_576))


async def _send(producer: AIOKafkaProducer, topic: str, partition: int,
                items: list[tuple[bytes, bytes]]) -> list[asyncio.Future]:
    """Send ``items`` to one partition in full batches; the futures of their acknowledgements."""
    futures = []
    batch = producer.create_batch()
    for key, value in items:
        if batch.append(key=key, value=value, timestamp=None) is None:
            batch.close()
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)
    batch.close()
    if batch.record_count():
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


async def preload(settings: Settings, stream: Stream) -> None:
    """Write the stream's records to the input topics of ``settings.topic_prefix``."""
    topics = Topics(settings.topic_prefix)
    producer = _producer(settings)
    await start_aiokafka(producer, settings)
    try:
        futures = []
        for suffix, records in stream.records.items():
            topic = getattr(topics, suffix)
            n = len(await producer.partitions_for(topic))
            by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
            for key, value in records:
                by_partition.setdefault(partition_of(key, n), []).append((key, value))
            for p, items in by_partition.items():
                futures += await _send(producer, topic, p, items)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


# ---------------------------------------------------------------- raw loops


def _decoders(settings: Settings, how: str) -> dict[str, Callable[[bytes], Any]]:
    t = Topics(settings.topic_prefix)
    if how == "json":
        return {t.predictions: json.loads, t.feedback: json.loads}
    return {t.predictions: decode_prediction, t.feedback: decode_feedback}


def _raw_consumer(settings: Settings) -> AIOKafkaConsumer:
    t = Topics(settings.topic_prefix)
    return AIOKafkaConsumer(t.predictions, t.feedback, **aiokafka_options(settings),
                            group_id=f"raw-{uuid.uuid4().hex}", auto_offset_reset="earliest",
                            enable_auto_commit=False)


async def raw_loop(settings: Settings, total: int, how: str) -> float:
    """Seconds for a plain consumer to read and decode ``total`` records (``how``: json or contract)."""
    decode = _decoders(settings, how)
    consumer = _raw_consumer(settings)
    await start_aiokafka(consumer, settings)
    seen = 0
    start = None  # from the first fetched batch: group join is start-up, as for the monitor
    try:
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if batches and start is None:
                start = time.perf_counter()
            for tp, records in batches.items():
                fn = decode[tp.topic]
                for rec in records:
                    fn(rec.value)
                seen += len(records)
    finally:
        await consumer.stop()
    return time.perf_counter() - start


async def read_outputs(settings: Settings) -> dict[str, list[tuple[int, bytes | None, bytes | None]]]:
    """Every record the monitor wrote under the prefix, by output (``OUTPUTS``): ``(partition, key, value)``.

    A compacted topic may already have lost some; :func:`output_counts` counts by offsets.
    """
    names = [settings.topic_prefix + s for s in OUTPUTS]
    output = dict(zip(names, OUTPUTS))
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), enable_auto_commit=False,
                                isolation_level="read_committed", fetch_max_bytes=64 * 1024 * 1024,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await start_aiokafka(consumer, settings)
    try:
        tps = [TopicPartition(t, p) for t, ps in _partitions(settings, names).items() for p in ps]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: dict[str, list] = {s: [] for s in OUTPUTS}
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for tp, records in (await consumer.getmany(timeout_ms=500, max_records=10_000)).items():
                out[output[tp.topic]] += [(tp.partition, r.key, r.value) for r in records if r.offset < ends[tp]]
        return out
    finally:
        await consumer.stop()


def _partitions(settings: Settings, names: list[str]) -> dict[str, list[int]]:
    from kafka import KafkaConsumer

    from driftline.kafka.clients import connect

    c = connect(KafkaConsumer, settings)
    try:
        return {t: sorted(c.partitions_for_topic(t) or ()) for t in names}
    finally:
        c.close()


def output_counts(settings: Settings) -> dict[str, int]:
    """Records written to each output topic, by offsets (compaction does not lower them)."""
    from kafka import KafkaConsumer, TopicPartition

    from driftline.kafka.clients import connect

    names = {settings.topic_prefix + s: s for s in OUTPUTS}
    tps = [TopicPartition(t, p) for t, ps in _partitions(settings, list(names)).items() for p in ps]
    c = connect(KafkaConsumer, settings)
    try:
        counts = dict.fromkeys(OUTPUTS, 0)
        for tp, end in c.end_offsets(tps).items():
            counts[names[tp.topic]] += end
        return counts
    finally:
        c.close()


# ---------------------------------------------------------------- the floor


async def floor_loop(settings: Settings, total: int, outputs: dict[str, list], counts: dict[str, int]) -> float:
    """Seconds to read and decode ``total`` records and write ``counts`` output records, committed.

    For each output topic the loop writes as many records as the monitor did
    (the monitor's own records, to :func:`floor_topic`), spread in proportion to
    the input read; every ``commit_interval_ms`` it awaits their acknowledgements
    and then commits, as the worker does.
    """
    decode = _decoders(settings, "contract")
    producer = _producer(settings)
    await start_aiokafka(producer, settings)
    consumer = _raw_consumer(settings)
    await start_aiokafka(consumer, settings)
    plan = [(floor_topic(settings, name), counts[name], itertools.cycle(records))
            for name, records in outputs.items() if records]
    written = {name: 0 for name, _, _ in plan}
    interval = settings.commit_interval_ms / 1000.0
    seen, futures, start, last_commit = 0, [], None, time.perf_counter()
    try:
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if batches and start is None:
                start = last_commit = time.perf_counter()
            for tp, records in batches.items():
                fn = decode[tp.topic]
                for rec in records:
                    fn(rec.value)
                seen += len(records)
            for name, n, source in plan:
                due = n * seen // total - written[name]
                by_partition: dict[int, list] = {}
                for partition, key, value in itertools.islice(source, due):
                    by_partition.setdefault(partition, []).append((key, value))
                for partition, items in by_partition.items():
                    futures += await _send(producer, name, partition, items)
                written[name] += due
            if seen >= total or time.perf_counter() - last_commit >= interval:
                await asyncio.gather(*futures)
                futures = []
                await consumer.commit()
                last_commit = time.perf_counter()
    finally:
        await consumer.stop()
        await producer.stop()
    return time.perf_counter() - start


def floor_topic(settings: Settings, output: str) -> str:
    return f"{settings.topic_prefix}floor-{output}"


def create_floor_topics(settings: Settings, outputs: dict[str, list]) -> None:
    from kafka.admin import NewTopic

    from driftline.kafka_admin import replication

    admin = admin_client(settings)
    try:
        factor = replication(settings, admin).factor
        admin.create_topics([NewTopic(floor_topic(settings, name), settings.partitions, factor)
                             for name, records in outputs.items() if records])
    finally:
        admin.close()

"""Small Kafka helpers for the broker tests: publish events, collect a topic."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from driftline.contract import Event


def publish(producer: KafkaProducer, topic: str, events: Iterable[Event], *,
            partition: int | None = None) -> None:
    """Send events keyed by model_id, stamped with their event time, and wait for the acks."""
    futures = [producer.send(topic, key=ev.key, value=ev.encode(), partition=partition,
                             timestamp_ms=getattr(ev, "ts", None))
               for ev in events]
    producer.flush()
    for f in futures:
        f.get(timeout=30)


def collect(consumer: KafkaConsumer, topic: str, until: Callable[[list], bool],
            timeout_s: float = 45.0) -> list:
    """Read ``topic`` from the beginning until ``until(messages)`` holds; fail on timeout."""
    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    messages: list = []
    deadline = time.monotonic() + timeout_s
    while not until(messages):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out on {topic}; got {len(messages)} messages")
        for batch in consumer.poll(timeout_ms=200).values():
            messages.extend(batch)
    return messages

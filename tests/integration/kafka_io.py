"""Small helpers for integration tests: raw produce and read-back on a real broker."""

from __future__ import annotations

import time
from collections.abc import Callable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    produce_to(bootstrap, [(topic, key, value) for key, value in messages])


def produce_to(bootstrap: str, messages: list[tuple[str, bytes | None, bytes]]) -> None:
    """Send (topic, key, value) messages in this order with one producer, and wait for every ack."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for topic, key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


def read(bootstrap: str, topic: str, *, until: Callable[[list], bool],
         timeout_s: float = 60.0) -> list:
    """Read ``topic`` from the start until ``until(records)`` holds; return the records."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    records: list = []
    try:
        deadline = time.monotonic() + timeout_s
        parts = None
        while parts is None and time.monotonic() < deadline:
            found = consumer.partitions_for_topic(topic)
            parts = [TopicPartition(topic, p) for p in sorted(found)] if found else None
            if parts is None:
                time.sleep(0.2)
        assert parts, f"topic {topic} never appeared"
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        while time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=200).values():
                records.extend(recs)
            if until(records):
                return records
        return records
    finally:
        consumer.close()


def at_least(n: int) -> Callable[[list], bool]:
    return lambda records: len(records) >= n


def wait_committed(bootstrap: str, group: str, topic: str, *, timeout_s: float,
                   give_up: Callable[[], bool] = lambda: False) -> bool:
    """Wait until ``group`` has committed the end of every partition of ``topic``.

    True once it has; False after ``timeout_s`` or as soon as ``give_up()`` holds.
    """
    from kafka import KafkaAdminClient

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        ends = consumer.end_offsets(parts)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not give_up():
            committed = admin.list_group_offsets({group: None}).get(group, {})
            # A partition the group never read (nothing was ever sent to it) has no offset.
            if all((committed[tp].offset if tp in committed else 0) >= end for tp, end in ends.items()):
                return True
            time.sleep(0.5)
        return False
    finally:
        admin.close()
        consumer.close()


def read_to_end(bootstrap: str, topic: str, *, read_committed: bool = False,
                timeout_s: float = 60.0) -> list:
    """Every record of ``topic`` from the start to its end now, in offset order per partition.

    With ``read_committed``, records of aborted transactions are left out, and
    the reading waits until no transaction is open on ``topic`` (that of a
    killed producer ends when the broker times it out): until then, what was
    committed after it cannot be read.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             isolation_level="read_committed" if read_committed else "read_uncommitted")
    records: list = []
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        assert parts, f"topic {topic} does not exist"
        deadline = time.monotonic() + timeout_s
        ends = consumer.end_offsets(parts)
        if read_committed:
            ends = _wait_stable(bootstrap, consumer, parts, deadline)
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, f"{topic} not read to its end within {timeout_s:.0f} s"
            for recs in consumer.poll(timeout_ms=200).values():
                records.extend(recs)
        return records
    finally:
        consumer.close()


def _wait_stable(bootstrap: str, committed: KafkaConsumer, parts: list, deadline: float) -> dict:
    """The end offsets once the last stable offset of every partition is its high watermark."""
    everything = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        while True:
            stable, high = committed.end_offsets(parts), everything.end_offsets(parts)
            if stable == high:
                return stable
            assert time.monotonic() < deadline, f"a transaction stays open on {parts[0].topic}"
            time.sleep(0.2)
    finally:
        everything.close()


def group_offsets(admin, group: str, topics: list[str]) -> dict[TopicPartition, int]:
    """The offsets ``group`` has committed on ``topics`` (none before its coordinator is known)."""
    from kafka.errors import KafkaError

    try:
        committed = admin.list_group_offsets({group: None}).get(group, {})
    except KafkaError:  # the group's coordinator is not there yet
        return {}
    return {tp: meta.offset for tp, meta in committed.items() if tp.topic in topics and meta.offset >= 0}

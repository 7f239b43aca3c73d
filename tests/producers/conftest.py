"""Fixtures for the producers tests; the broker and ``settings`` come from ``tests/conftest.py``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from driftline.contract import Topics
from driftline.kafka_admin import ensure_topics
from driftline.settings import Settings


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """A test must stop every thread it starts (producer I/O threads, version feeds)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while (leaked := [t for t in threading.enumerate() if t not in before and t.is_alive()]):
        if time.monotonic() > deadline:
            pytest.fail(f"threads still running after the test: {[t.name for t in leaked]}")
        time.sleep(0.01)


@pytest.fixture(scope="session")
def admin(kafka_bootstrap: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="driftline-tests")
    yield client
    client.close()


@pytest.fixture
def topics(settings: Settings, admin: KafkaAdminClient) -> Iterator[Topics]:
    """Every contract topic for ``settings``' prefix, as production sets them up; deleted after the test."""
    ensure_topics(settings)
    names = Topics(settings.topic_prefix)
    yield names
    admin.delete_topics(names.all())


def read_topic(settings: Settings, topic: str, n: int, timeout: float = 15.0) -> list:
    """The first ``n`` records of ``topic`` (all partitions), or fewer if ``timeout`` passes first."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", allow_auto_create_topics=False,
    )
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list = []
        deadline = time.monotonic() + timeout
        while len(records) < n and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()

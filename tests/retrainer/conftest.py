"""Fixtures for the retrainer tests: a registry and store per test, topics on the session broker.

``kafka_bootstrap``, ``registry_url`` (SQLite and PostgreSQL) and
``settings_factory`` come from ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from driftline.contract import Topics
from driftline.kafka_admin import ensure_topics
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.registry import Registry
from driftline.settings import Settings

# The artifact key of the tests' stores; a test about keys makes its own.
TEST_KEY = b"driftline-tests-artifact-key-32b"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A SQLite registry, for tests about the retrainer rather than about the database."""
    reg = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    yield reg
    reg.close()


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts", key=TEST_KEY)


@pytest.fixture
def kafka_settings(settings_factory: Callable[..., Settings],
                   kafka_bootstrap: str) -> Iterator[Settings]:
    """Settings with a topic prefix of this test's own; its topics exist, and are deleted after."""
    settings = settings_factory(partitions=3)
    ensure_topics(settings)
    yield settings
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.delete_topics(Topics(settings.topic_prefix).all())
    finally:
        admin.close()


@pytest.fixture
def producer_factory(kafka_bootstrap: str) -> Iterator[Callable[[], KafkaProducer]]:
    made: list[KafkaProducer] = []

    def make() -> KafkaProducer:
        made.append(KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all"))
        return made[-1]

    yield make
    for p in made:
        p.close()


@pytest.fixture
def consumer_factory(kafka_bootstrap: str) -> Iterator[Callable[..., KafkaConsumer]]:
    made: list[KafkaConsumer] = []

    def make(**config: object) -> KafkaConsumer:
        made.append(KafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False, **config))
        return made[-1]

    yield make
    for c in made:
        c.close(autocommit=False)


@pytest.fixture
def admin_factory(kafka_bootstrap: str) -> Iterator[Callable[[], KafkaAdminClient]]:
    made: list[KafkaAdminClient] = []

    def make() -> KafkaAdminClient:
        made.append(KafkaAdminClient(bootstrap_servers=kafka_bootstrap))
        return made[-1]

    yield make
    for a in made:
        a.close()

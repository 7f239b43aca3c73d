"""Topic set-up and broker checks shared by every role (kafka-python admin client)."""

from __future__ import annotations

import logging
import socket
import time

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from driftline.contract import Topics
from driftline.exceptions import BrokerUnavailable
from driftline.settings import Settings

log = logging.getLogger(__name__)

# Topics whose partitioning must match so the monitor sees a model's predictions
# and feedback on the same partition number.
_KEYED_BY_MODEL = ("predictions", "feedback", "labeled", "metrics", "alerts",
                   "retrain_requests", "dead_letter")


def require_broker(bootstrap: str, timeout_s: float = 10.0) -> None:
    """Raise :class:`BrokerUnavailable` unless a bootstrap address accepts connections in time.

    A TCP check first, because the Kafka clients wait their full request
    timeout before saying a broker is missing.
    """
    deadline = time.monotonic() + timeout_s
    servers = [s.strip().rpartition(":") for s in bootstrap.split(",")]
    while True:
        for host, _, port in servers:
            try:
                with socket.create_connection((host, int(port)), timeout=1.0):
                    return
            except OSError:
                pass
        if time.monotonic() >= deadline:
            raise BrokerUnavailable(
                f"no Kafka broker answered at {bootstrap}; start one with "
                "'driftline broker start' or set DRIFTLINE_KAFKA_BOOTSTRAP")
        time.sleep(0.25)


def admin_client(settings: Settings, timeout_s: float = 10.0) -> KafkaAdminClient:
    require_broker(settings.kafka_bootstrap, timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                    client_id="driftline-admin",
                                    request_timeout_ms=15000)
        except (KafkaError, OSError) as exc:
            if time.monotonic() >= deadline:
                raise BrokerUnavailable(
                    f"no Kafka broker answered at {settings.kafka_bootstrap} ({exc.__class__.__name__}); "
                    "start one with 'driftline broker start' or set DRIFTLINE_KAFKA_BOOTSTRAP") from None
            time.sleep(0.5)


def topic_specs(settings: Settings) -> list[NewTopic]:
    topics = Topics(settings.topic_prefix)
    specs = [NewTopic(getattr(topics, attr), settings.partitions, 1) for attr in _KEYED_BY_MODEL]
    # One record per model survives compaction; consumers read it from the start.
    specs.append(NewTopic(topics.model_versions, settings.partitions, 1,
                          topic_configs={"cleanup.policy": "compact",
                                         "min.cleanable.dirty.ratio": "0.1",
                                         "segment.ms": "600000"}))
    # The monitor's state: one record per key survives, on the partition of the model's events.
    specs.append(NewTopic(f"{settings.topic_prefix}monitor-state", settings.partitions, 1,
                          topic_configs={"cleanup.policy": "compact",
                                         "min.cleanable.dirty.ratio": "0.1",
                                         "segment.ms": "600000"}))
    return specs


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create driftline's topics that do not exist yet; return the ones created."""
    admin = admin_client(settings, timeout_s=min(timeout_s, 10.0))
    created: list[str] = []
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topic_specs(settings) if t.name not in existing]
        for spec in missing:
            try:
                admin.create_topics([spec], timeout_ms=int(timeout_s * 1000))
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # another role created it in the meantime
        _wait_for_metadata(admin, [t.name for t in missing], timeout_s)
    finally:
        admin.close()
    if created:
        log.info("created topics %s", ", ".join(created))
    return created


def _wait_for_metadata(admin: KafkaAdminClient, names: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while names and time.monotonic() < deadline:
        described = admin.describe_topics(names)
        if all(d.get("error_code", 0) == 0 and d.get("partitions") for d in described):
            return
        time.sleep(0.2)

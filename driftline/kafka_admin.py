"""Topic set-up and broker checks shared by every role (kafka-python admin client).

Topics driftline creates get ``DRIFTLINE_REPLICATION_FACTOR`` replicas
(default: as many as the cluster has brokers, at most 3) and
``min.insync.replicas`` from ``DRIFTLINE_MIN_INSYNC_REPLICAS`` (default: 2,
or the replication factor if smaller), so that an event acknowledged to a
producer (``acks=all``) is on that many brokers. A topic that exists already
is used as it is; if its replication differs, one warning line says so.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from driftline.contract import Topics
from driftline.exceptions import BrokerUnavailable, DriftlineError, SettingsError
from driftline.settings import ENV, Settings

log = logging.getLogger(__name__)

# Topics whose partitioning must match so the monitor sees a model's predictions
# and feedback on the same partition number.
_KEYED_BY_MODEL = ("predictions", "feedback", "labeled", "metrics", "alerts",
                   "retrain_requests", "dead_letter")
MAX_DEFAULT_REPLICAS = 3


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
    """A connected admin client (:func:`driftline.kafka.clients.connect`), waiting up to ``timeout_s``."""
    from driftline.kafka.clients import connect

    require_broker(settings.kafka_bootstrap, timeout_s)
    return connect(KafkaAdminClient, settings, timeout=timeout_s, client_id="driftline-admin",
                   request_timeout_ms=15000)


@dataclass(frozen=True)
class Replication:
    """Replicas and ``min.insync.replicas`` of the topics driftline creates.

    >>> Replication.of(Settings(), brokers=1), Replication.of(Settings(), brokers=5)
    (Replication(factor=1, min_insync=1), Replication(factor=3, min_insync=2))
    >>> Replication.of(Settings(replication_factor=2, min_insync_replicas=1), brokers=3)
    Replication(factor=2, min_insync=1)
    """

    factor: int
    min_insync: int

    @classmethod
    def of(cls, settings: Settings, brokers: int) -> Replication:
        factor = settings.replication_factor or max(1, min(MAX_DEFAULT_REPLICAS, brokers))
        if factor > brokers:
            raise SettingsError(f"{ENV['replication_factor']} is {factor} but the cluster at "
                                f"{settings.kafka_bootstrap} has {brokers} broker{'s' * (brokers != 1)}")
        return cls(factor, settings.min_insync_replicas or min(2, factor))


def replication(settings: Settings, admin: KafkaAdminClient | None = None) -> Replication:
    """The replication for ``settings`` on the cluster they point to (asks it how many brokers it has)."""
    own = admin is None
    admin = admin_client(settings) if own else admin
    try:
        brokers = len(admin.describe_cluster()["brokers"])
    finally:
        if own:
            admin.close()
    return Replication.of(settings, brokers)


def topic_specs(settings: Settings, repl: Replication = Replication(1, 1)) -> list[NewTopic]:
    topics = Topics(settings.topic_prefix)
    isr = {"min.insync.replicas": str(repl.min_insync)}
    specs = [NewTopic(getattr(topics, attr), settings.partitions, repl.factor, topic_configs=dict(isr))
             for attr in _KEYED_BY_MODEL]
    # One record per model survives compaction; consumers read it from the start.
    specs.append(NewTopic(topics.model_versions, settings.partitions, repl.factor,
                          topic_configs={**isr, "cleanup.policy": "compact",
                                         "min.cleanable.dirty.ratio": "0.1",
                                         "segment.ms": "600000"}))
    # The monitor's state: one record per key survives, on the partition of the model's events.
    specs.append(NewTopic(f"{settings.topic_prefix}monitor-state", settings.partitions, repl.factor,
                          topic_configs={**isr, "cleanup.policy": "compact",
                                         "min.cleanable.dirty.ratio": "0.1",
                                         "segment.ms": "600000"}))
    return specs


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create driftline's topics that do not exist yet; return the ones created.

    Topics that exist are used as they are; those whose replication differs
    from the settings' are named in one warning line.
    """
    admin = admin_client(settings, timeout_s=min(timeout_s, 10.0))
    created: list[str] = []
    try:
        repl = replication(settings, admin)
        specs = topic_specs(settings, repl)
        existing = set(admin.list_topics())
        missing = [t for t in specs if t.name not in existing]
        for spec in missing:
            try:
                admin.create_topics([spec], timeout_ms=int(timeout_s * 1000))
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # another role created it in the meantime
        _wait_for_metadata(admin, [t.name for t in missing], timeout_s)
        _warn_if_replicated_otherwise(admin, [t.name for t in specs if t.name in existing], repl)
    finally:
        admin.close()
    if created:
        log.info("created topics %s (replication factor %d, min.insync.replicas %d)",
                 ", ".join(created), repl.factor, repl.min_insync)
    return created


def existing_replication(admin: KafkaAdminClient, names: list[str]) -> dict[str, Replication]:
    """The replication factor and effective ``min.insync.replicas`` of existing topics."""
    if not names:
        return {}
    factors = {d["name"]: min((len(p["replica_nodes"]) for p in d["partitions"]), default=0)
               for d in admin.describe_topics(names) if d.get("error_code", 0) == 0}
    resources = [ConfigResource(ConfigResourceType.TOPIC, n, {"min.insync.replicas": None}) for n in factors]
    configs = admin.describe_configs(resources, config_filter="all").get("topic", {})
    return {name: Replication(factor, int(configs[name]["min.insync.replicas"]["value"]))
            for name, factor in factors.items()}


def _warn_if_replicated_otherwise(admin: KafkaAdminClient, names: list[str], want: Replication) -> None:
    try:
        found = existing_replication(admin, names)
    except (KafkaError, DriftlineError, KeyError, ValueError) as exc:  # a check only: the topics work
        log.debug("could not describe the replication of %s: %r", ", ".join(names), exc)
        return
    other = {n: r for n, r in sorted(found.items()) if r != want}
    if other:
        log.warning("existing topics replicated otherwise than the settings ask (replication factor %d, "
                    "min.insync.replicas %d) are used as they are: %s", want.factor, want.min_insync,
                    ", ".join(f"{n} ({r.factor}, {r.min_insync})" for n, r in other.items()))


def _wait_for_metadata(admin: KafkaAdminClient, names: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while names and time.monotonic() < deadline:
        described = admin.describe_topics(names)
        if all(d.get("error_code", 0) == 0 and d.get("partitions") for d in described):
            return
        time.sleep(0.2)

"""Building kafka-python clients that fail fast, in one line, and leak nothing.

kafka-python waits for its bootstrap timeout before giving up on an address
where nothing listens, and the sockets of the refused connections are never
closed (a ResourceWarning per attempt). The shared TCP check answers the
common case, nothing listening, at once and cleanly.
"""

from __future__ import annotations

from typing import Any, TypeVar

import kafka.errors
from kafka.net.compat import KafkaNetClient

from driftline.exceptions import BrokerUnavailable
from driftline.kafka_admin import require_broker

T = TypeVar("T")

CONNECT_TIMEOUT_S = 5.0


def connect(cls: type[T], bootstrap: str, *, timeout: float = CONNECT_TIMEOUT_S, **config: Any) -> T:
    """``cls(**config)`` for a KafkaProducer or KafkaConsumer, or :class:`BrokerUnavailable` within ``timeout``."""
    # One round of TCP attempts: a service started before its broker should
    # say so at once rather than look hung.
    require_broker(bootstrap, timeout_s=0)
    made: list[KafkaNetClient] = []

    def client(**kw: Any) -> KafkaNetClient:
        # Kept so the network client can be closed if the constructor fails.
        net = KafkaNetClient(**kw)
        made.append(net)
        return net

    try:
        return cls(
            bootstrap_servers=[s.strip() for s in bootstrap.split(",") if s.strip()],
            bootstrap_timeout_ms=int(timeout * 1000),
            kafka_client=client,
            **config,
        )
    except (kafka.errors.KafkaTimeoutError, kafka.errors.NoBrokersAvailable) as exc:
        for net in made:
            net.close()
        raise BrokerUnavailable(
            f"no Kafka broker answered at {bootstrap}: something listens there but did not "
            f"answer as Kafka within {timeout:g} s"
        ) from exc

"""Publishing contract events to Kafka without losing any.

The producer waits for every in-sync replica (``acks="all"``) and is
idempotent, so retries neither drop nor duplicate records and up to five
requests may be in flight per connection without reordering. Records are keyed
by ``model_id``: all events of a model land in one partition, in order.
"""

from __future__ import annotations

import functools
import logging
import threading
from types import TracebackType
from typing import Any

import kafka.errors
from kafka import KafkaProducer

from driftline.contract import Event, Topics
from driftline.kafka import clients
from driftline.producers.buffer import ByteBudget
from driftline.producers.events import feedback_event, predict_event
from driftline.producers.exceptions import BufferFull, EventTooLarge, PublishError
from driftline.settings import Settings

__all__ = ["EventPublisher", "feedback_event", "predict_event"]

log = logging.getLogger(__name__)

# event schema -> Topics attribute
_TOPIC_OF = {
    "prediction": "predictions",
    "feedback": "feedback",
    "labeled": "labeled",
    "alert": "alerts",
    "retrain-request": "retrain_requests",
    "model-version": "model_versions",
    "metrics": "metrics",
    "dead-letter": "dead_letter",
}

_KAFKA_MAX_REQUEST = 1_048_576


class EventPublisher:
    """Publishes contract events to their topics; a context manager that flushes on exit.

    Parameters
    ----------
    settings
        Bootstrap address, topic prefix and ``max_message_bytes``.
    client_id
        Shown in the broker's logs and metrics.
    linger_ms
        How long a record may wait for others to share its request.
    max_buffer_bytes
        Bytes of keys and values that may wait for the broker's acknowledgement;
        when full, :meth:`publish` blocks up to ``max_block_ms`` and then raises
        :class:`~driftline.producers.exceptions.BufferFull`.
    max_block_ms
        Longest time :meth:`publish` blocks, for buffer space or for the
        metadata of a topic it has not written to yet.
    connect_timeout_s
        How long construction waits for the broker before raising
        :class:`~driftline.exceptions.BrokerUnavailable`.

    Examples
    --------
    Publishing needs a broker:

    >>> from driftline.producers.events import predict_event
    >>> with EventPublisher(settings) as pub:  # doctest: +SKIP
    ...     pub.publish(predict_event("fraud", "3", {"amount": 12.5}, 1))

    Without one, construction fails at once with one line:

    >>> EventPublisher(Settings(kafka_bootstrap="127.0.0.1:9"))
    Traceback (most recent call last):
    ...
    driftline.exceptions.BrokerUnavailable: no Kafka broker answered at 127.0.0.1:9; start one with 'driftline broker start' or set DRIFTLINE_KAFKA_BOOTSTRAP
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client_id: str = "driftline-service",
        linger_ms: int = 5,
        max_buffer_bytes: int = 32 * 1024 * 1024,
        max_block_ms: int = 10_000,
        connect_timeout_s: float = clients.CONNECT_TIMEOUT_S,
    ):
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.max_block_ms = max_block_ms
        self._budget = ByteBudget(max_buffer_bytes)
        self._failed = 0  # records the broker never acknowledged, since the last flush
        self._first_failure: BaseException | None = None
        self._failures_lock = threading.Lock()
        # Set when a record fails: the producer may have stopped for good (below).
        self._suspect = False
        self._swap_lock = threading.Lock()
        self._closed = False
        self._connect = functools.partial(
            clients.connect,
            KafkaProducer,
            settings,
            timeout=connect_timeout_s,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            # Retries are bounded by delivery_timeout_ms, not by count.
            retries=2_147_483_647,
            max_in_flight_requests_per_connection=5,
            linger_ms=linger_ms,
            max_block_ms=max_block_ms,
            max_request_size=max(_KAFKA_MAX_REQUEST, settings.max_message_bytes + 65_536),
        )
        self._producer: KafkaProducer = self._connect()

    # ------------------------------------------------------------ publishing

    def topic_for(self, event: Event) -> str:
        """The topic an event goes to, chosen by its type."""
        try:
            return getattr(self.topics, _TOPIC_OF[event.schema])
        except (AttributeError, KeyError):
            raise TypeError(f"not a contract event: {type(event).__name__}") from None

    def publish(self, event: Event) -> Any:
        """Send ``event`` to its topic, keyed by its model_id; returns kafka-python's future.

        Delivery is asynchronous: a record the broker finally refuses is
        reported by the next :meth:`flush` or :meth:`close`.
        """
        topic = self.topic_for(event)
        value = event.encode()
        if len(value) > self.settings.max_message_bytes:
            raise EventTooLarge(
                f"{event.schema} event of {len(value)} bytes is over max_message_bytes "
                f"({self.settings.max_message_bytes}); consumers would dead-letter it"
            )
        return self.publish_raw(topic, event.key, value)

    def publish_raw(self, topic: str, key: bytes | None, value: bytes) -> Any:
        """Send bytes as they are, unchecked (to test how consumers treat bad input)."""
        if self._closed:
            raise PublishError("publisher is closed")
        if self._suspect:
            self._replace_if_stopped()
        size = len(value) + (len(key) if key else 0)
        if not self._budget.acquire(size, timeout=self.max_block_ms / 1000):
            raise BufferFull(
                f"{self._budget.used} bytes still wait for the broker after {self.max_block_ms} ms; "
                "is the broker down or slower than the traffic?"
            )
        try:
            future = self._producer.send(topic, value=value, key=key)
        except kafka.errors.KafkaError as exc:
            self._budget.release(size)
            raise PublishError(f"could not send to {topic}: {exc}") from exc
        except BaseException:
            self._budget.release(size)
            raise
        future.add_both(self._done, size)
        return future

    def _done(self, size: int, result: Any) -> None:
        # Runs on kafka-python's I/O thread, once per record.
        self._budget.release(size)
        if isinstance(result, BaseException):
            with self._failures_lock:
                self._failed += 1
                if self._first_failure is None:
                    self._first_failure = result
            self._suspect = True

    def _replace_if_stopped(self) -> None:
        # kafka-python 3's idempotent producer treats any non-retriable error
        # (a record over the topic's max.message.bytes, say) as fatal and fails
        # every later record. One bad record must not silence the service, so a
        # stopped producer is replaced by a new one (with a new producer id).
        with self._swap_lock:
            if not self._suspect:
                return
            self._suspect = False
            manager = getattr(self._producer, "_transaction_manager", None)
            if manager is None or not manager.has_fatal_error():
                return
            log.error("Kafka producer stopped after %s; starting a new one", manager.last_error)
            old, self._producer = self._producer, self._connect()
            old.close(timeout=5)

    # ------------------------------------------------------------ lifecycle

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every record sent so far is acknowledged or has failed.

        Raises :class:`~driftline.producers.exceptions.PublishError` if some
        records failed since the last flush, or if ``timeout`` seconds pass first.
        """
        try:
            self._producer.flush(timeout=timeout)
        except kafka.errors.KafkaTimeoutError as exc:
            raise PublishError(f"records still unacknowledged after {timeout} s") from exc
        with self._failures_lock:
            failed, first = self._failed, self._first_failure
            self._failed, self._first_failure = 0, None
        if failed:
            raise PublishError(f"{failed} records were not delivered; first: {first}")

    def close(self, timeout: float | None = None) -> None:
        """Flush, then release the connections. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush(timeout)
        finally:
            self._producer.close(timeout=timeout)

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        self.close()

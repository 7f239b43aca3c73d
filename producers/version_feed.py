"""Following ``model-versions`` for one model on a background thread.

The topic is compacted and keyed by model_id, so reading it from the
beginning finds the latest announcement of every model. What is already in
the topic when the feed starts is history: only the last champion
announcement found there is handed on (so a service does not replay every old
version), then each new one as it arrives. The feed reads without a consumer
group and commits nothing: every service instance reads the whole topic.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from driftline.contract import ModelVersion, Topics, decode_model_version
from driftline.exceptions import InvalidEvent
from driftline.kafka import clients
from driftline.settings import Settings

log = logging.getLogger(__name__)


class VersionFeed:
    """Calls ``on_event(ModelVersion)`` for the champion announcements of ``model_id``.

    Starts reading at construction (raising
    :class:`~driftline.exceptions.BrokerUnavailable` if Kafka cannot be
    reached); :meth:`close` stops the thread and closes the consumer. If the
    topic does not exist yet, the feed waits for it.

    >>> VersionFeed(Settings(kafka_bootstrap="127.0.0.1:9"), "fraud", print)
    Traceback (most recent call last):
    ...
    driftline.exceptions.BrokerUnavailable: no Kafka broker answered at 127.0.0.1:9; start one with 'driftline broker start' or set DRIFTLINE_KAFKA_BOOTSTRAP
    """

    def __init__(
        self,
        settings: Settings,
        model_id: str,
        on_event: Callable[[ModelVersion], Any],
        *,
        client_id: str = "driftline-model-client",
        poll_ms: int = 200,
        connect_timeout_s: float = clients.CONNECT_TIMEOUT_S,
    ):
        self.topic = Topics(settings.topic_prefix).model_versions
        self.model_id = model_id
        self.poll_ms = poll_ms
        self.caught_up = threading.Event()  # set once the history has been read
        self._on_event = on_event
        self._key = model_id.encode("utf-8")
        self._end: dict[TopicPartition, int] = {}
        self._last_seen: ModelVersion | None = None
        self._stop = threading.Event()
        self._consumer = clients.connect(
            KafkaConsumer,
            settings,
            timeout=connect_timeout_s,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # A consumer must never create this topic: it would not be compacted.
            allow_auto_create_topics=False,
            fetch_max_wait_ms=poll_ms,
        )
        self._thread = threading.Thread(target=self._run, name=f"driftline-versions-{model_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._consumer.assignment() and not self._assign():
                    self._stop.wait(1.0)
                    continue
                for records in self._consumer.poll(timeout_ms=self.poll_ms).values():
                    for record in records:
                        self._handle(record.key, record.value)
                if not self.caught_up.is_set() and self._at_end():
                    self._finish_catch_up()
            except Exception:
                # The service keeps serving its current model whatever happens here.
                log.exception("reading %s failed; retrying in 1 s", self.topic)
                self._stop.wait(1.0)

    def _assign(self) -> bool:
        partitions = self._consumer.partitions_for_topic(self.topic)
        if not partitions:
            return False
        # All partitions, not the one our key hashes to: producers in other
        # languages may partition keys differently.
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        self._consumer.seek_to_beginning(*tps)
        self._end = self._consumer.end_offsets(tps)
        return True

    def _at_end(self) -> bool:
        return all(self._consumer.position(tp) >= end for tp, end in self._end.items())

    def _finish_catch_up(self) -> None:
        self.caught_up.set()
        last, self._last_seen = self._last_seen, None
        if last is not None:
            self._on_event(last)

    def _handle(self, key: bytes | None, value: bytes | None) -> None:
        if key != self._key or value is None:  # other models, and compaction tombstones
            return
        try:
            event = decode_model_version(value)
        except InvalidEvent as exc:
            log.warning("skipping a bad message on %s: %s", self.topic, exc)
            return
        if event.model_id != self.model_id or event.status != "champion":
            return
        if self.caught_up.is_set():
            self._on_event(event)
        else:
            self._last_seen = event

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread, then close the consumer. Safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout)
        self._consumer.close()

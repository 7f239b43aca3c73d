"""The dashboard's reader of the metrics, alerts and model-versions topics, in a background thread.

It takes every partition of the three topics itself (no consumer group), starts
at the oldest retained record and follows the log; it never commits an offset,
so it is invisible to the workers and to any other reader. Records that are no
JSON object are counted and skipped. Topics that do not exist yet are looked
for again every few seconds, so a dashboard may start before the first worker.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from driftline.contract import Topics
from driftline.settings import Settings
from driftline.ui.series import Series

log = logging.getLogger("driftline.ui")

# How often topics that did not exist are looked for again.
_RESCAN_S = 5.0


class TopicFeed:
    """Follows the three topics into a :class:`~driftline.ui.series.Series` until :meth:`close`.

    ``caught_up`` is set once every partition found at start has been read up to
    the end it had then: what the dashboard shows is the log as it was, at least.
    """

    def __init__(self, settings: Settings, series: Series, rescan_s: float = _RESCAN_S) -> None:
        self.settings = settings
        self.rescan_s = rescan_s
        self.series = series
        self.lock = threading.Lock()  # held while the series changes
        topics = Topics(settings.topic_prefix)
        self._handlers = {topics.metrics: series.add_metrics, topics.alerts: series.add_alert,
                          topics.model_versions: series.add_version}
        self.caught_up = threading.Event()
        self.n_records = 0
        self.n_malformed = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="driftline-ui-feed", daemon=True)

    def start(self) -> TopicFeed:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def status(self) -> dict[str, Any]:
        return {"caught_up": self.caught_up.is_set(), "records": self.n_records,
                "malformed": self.n_malformed, "error": self.error}

    def _run(self) -> None:
        from kafka import KafkaConsumer

        from driftline.kafka.clients import connect

        consumer = None
        try:
            while consumer is None and not self._stop.is_set():
                try:
                    consumer = connect(KafkaConsumer, self.settings, client_id="driftline-ui",
                                       group_id=None, enable_auto_commit=False,
                                       isolation_level="read_committed",
                                       # a dashboard started first must not create the topics
                                       # (with the broker's defaults) before a worker does
                                       allow_auto_create_topics=False)
                except Exception as exc:  # no broker yet: the page says so, and we try again
                    self.error = str(exc)
                    self._stop.wait(self.rescan_s)
            if consumer is not None:
                self.error = None
                self._follow(consumer)
        except Exception as exc:
            log.exception("the topic reader stopped")
            self.error = f"the topic reader stopped: {exc}"
        finally:
            if consumer is not None:
                consumer.close()

    def _follow(self, consumer: Any) -> None:
        from kafka import TopicPartition

        assigned: set[TopicPartition] = set()
        targets: dict[TopicPartition, int] = {}  # end offsets when first found
        next_scan = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_scan:
                found = {TopicPartition(t, p) for t in self._handlers
                         for p in (consumer.partitions_for_topic(t) or ())}
                new = found - assigned
                if new:
                    assigned |= new
                    consumer.assign(sorted(assigned))
                    consumer.seek_to_beginning(*new)
                    targets.update(consumer.end_offsets(list(new)))
                next_scan = time.monotonic() + self.rescan_s
            if not assigned:
                self._stop.wait(0.5)
                continue
            batches = consumer.poll(timeout_ms=500, max_records=2000)
            with self.lock:
                for tp, records in batches.items():
                    handle = self._handlers[tp.topic]
                    for rec in records:
                        self._take(handle, rec.value)
            if not self.caught_up.is_set() and all(consumer.position(tp) >= end
                                                   for tp, end in targets.items()):
                self.caught_up.set()

    def _take(self, handle: Any, raw: bytes | None) -> None:
        self.n_records += 1
        try:
            record = json.loads(raw) if raw is not None else None
        except (ValueError, UnicodeDecodeError):
            record = None
        if not isinstance(record, dict):
            self.n_malformed += 1
            return
        handle(record)

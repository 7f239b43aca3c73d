"""One receiver's lane: its queue of alerts, its rate limit, retries, dedup, and the offsets it has done.

Each receiver works through the alerts in its own thread, so one that is down
holds back only itself (until its queue is full). An alert is done for a
receiver once delivered, once found to repeat an ``(episode_id, status)`` it
already had, or once sent to dead-letter (refused, or still failing after
``give_up_s``).

>>> done = Offsets()
>>> done.add(("t", 0), 5, lanes=2); done.add(("t", 0), 6, lanes=2)
>>> done.finish(("t", 0), 6); done.finish(("t", 0), 6); done.committable()
{('t', 0): 5}
>>> done.finish(("t", 0), 5); done.finish(("t", 0), 5); done.committable()
{('t', 0): 7}
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from driftline.contract import Alert
from driftline.notify.receivers import Answer, RateLimit, Receiver, backoff_s

log = logging.getLogger("driftline.notify")

# (episode_id, status) pairs remembered per receiver for dedup.
DEDUP_ENTRIES = 100_000


@dataclass(frozen=True)
class Item:
    """One alert read from the topic, with where it came from."""

    partition: tuple[str, int]
    offset: int
    alert: Alert
    raw: bytes
    key: bytes | None

    @property
    def dedup_key(self) -> tuple[str, str]:
        return (self.alert.episode_id or self.alert.alert_id, self.alert.status)


class Offsets:
    """Which offsets every lane has finished; the next offset to commit per partition."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], dict[int, int]] = {}
        self._next: dict[tuple[str, int], int] = {}

    def add(self, partition: tuple[str, int], offset: int, lanes: int) -> None:
        with self._lock:
            self._pending.setdefault(partition, {})[offset] = lanes
            self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def finish(self, partition: tuple[str, int], offset: int) -> None:
        with self._lock:
            pending = self._pending.get(partition)
            if pending is None or offset not in pending:  # revoked meanwhile
                return
            left = pending[offset] - 1
            if left:
                self._pending[partition][offset] = left
            else:
                del self._pending[partition][offset]

    def committable(self) -> dict[tuple[str, int], int]:
        """Per partition, the offset below which every alert is done for every lane."""
        with self._lock:
            return {p: (min(self._pending[p]) if self._pending.get(p) else nxt)
                    for p, nxt in self._next.items()}

    def forget(self, partitions: set[tuple[str, int]]) -> None:
        with self._lock:
            for p in partitions:
                self._pending.pop(p, None)
                self._next.pop(p, None)


class Lane:
    """A receiver, its thread and its queue."""

    def __init__(self, receiver: Receiver, offsets: Offsets, dead_letter: Callable[[Item, str], bool],
                 stop: threading.Event, rate_per_minute: float = 60.0, give_up_s: float = 3600.0,
                 max_queue: int = 1000, refresh_s: float | None = None,
                 on_result: Callable[[str, str], None] | None = None) -> None:
        self.receiver = receiver
        self.offsets = offsets
        self.dead_letter = dead_letter
        self.stop = stop
        self.limit = RateLimit(rate_per_minute)
        self.give_up_s = give_up_s
        self.queue: queue.Queue[Item] = queue.Queue()
        self.max_queue = max_queue
        self.refresh_s = refresh_s
        self.on_result = on_result or (lambda receiver, result: None)
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.stats = {"delivered": 0, "duplicates": 0, "dead_letters": 0, "retries": 0}
        self._thread = threading.Thread(target=self._run, name=f"notify-{receiver.name}", daemon=True)

    @property
    def full(self) -> bool:
        return self.queue.qsize() >= self.max_queue

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)

    def _run(self) -> None:
        last_refresh = time.monotonic()
        while not self.stop.is_set():
            try:
                item = self.queue.get(timeout=0.2)
            except queue.Empty:
                item = None
            if item is not None:
                if self._handle(item):
                    self.offsets.finish(item.partition, item.offset)
            if self.refresh_s and time.monotonic() - last_refresh >= self.refresh_s:
                last_refresh = time.monotonic()
                refresh = getattr(self.receiver, "refresh", None)
                answer = refresh() if refresh else None
                if answer is not None and not answer.delivered:
                    log.warning("%s: could not send the open episodes again: %s", self.receiver.name,
                                answer.detail)

    def _handle(self, item: Item) -> bool:
        """Deliver one alert; False if the worker stopped before it was done."""
        if item.dedup_key in self._seen:
            self.stats["duplicates"] += 1
            self.on_result(self.receiver.name, "duplicate")
            return True
        deadline = time.monotonic() + self.give_up_s
        attempt = 0
        while True:
            wait = self.limit.wait_s()
            if wait and self.stop.wait(wait):
                return False
            attempt += 1
            answer = self._attempt(item)
            if answer.delivered:
                self._remember(item.dedup_key)
                self.stats["delivered"] += 1
                self.on_result(self.receiver.name, "delivered")
                return True
            if not answer.retry or time.monotonic() >= deadline:
                why = "refused" if not answer.retry else f"still failing after {attempt} attempts"
                log.error("%s %s alert %s: %s", self.receiver.name, why, item.alert.alert_id, answer.detail)
                reason = (f"{self.receiver.name} refused the delivery: {answer.detail}" if not answer.retry
                          else f"{self.receiver.name} delivery gave up ({why}): {answer.detail}")
                if not self.dead_letter(item, reason):
                    return False
                self.stats["dead_letters"] += 1
                self.on_result(self.receiver.name, "dead_letter")
                return True
            self.stats["retries"] += 1
            pause = max(backoff_s(attempt), answer.retry_after_s or 0.0)
            pause = min(pause, max(deadline - time.monotonic(), 0.0))
            log.warning("%s: %s; trying again in %.1f s", self.receiver.name, answer.detail, pause)
            if self.stop.wait(pause):
                return False

    def _attempt(self, item: Item) -> Answer:
        try:
            return self.receiver.deliver(item.alert, item.raw)
        except Exception as exc:  # a bug in building the request must not end the lane
            log.exception("%s: delivery failed", self.receiver.name)
            return Answer(False, False, f"could not build the request: {exc!r:.200}")

    def _remember(self, key: tuple[str, str]) -> None:
        self._seen[key] = None
        if len(self._seen) > DEDUP_ENTRIES:
            self._seen.popitem(last=False)


def describe(lanes: list[Lane]) -> dict[str, Any]:
    return {lane.receiver.name: dict(lane.stats) for lane in lanes}

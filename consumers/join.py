"""Joins predictions with their late feedback by prediction id, in bounded memory.

Pending predictions, and feedback that arrived before its prediction, wait in
a dict keyed ``("p", event_id)`` or ``("f", prediction_id)``. They leave it
when they are joined, when their event time is more than ``ttl_ms`` behind
the model's clock, or, oldest first, when more than ``max_pending`` wait, so
predictions that never get a label cannot grow memory without bound.

The monitor writes the entries still waiting at the end of a commit interval
to its state topic, and deletes those that had been written once they are
gone (:meth:`changes`): a prediction whose label arrives within the same
interval never reaches the topic.

>>> from driftline.contract import Prediction, Feedback
>>> j = LabelJoin("fraud", ttl_ms=1000, max_pending=10)
>>> j.add_prediction(Prediction("p1", "fraud", "3", 100, {"x": 1.0}, 1))
>>> j.add_prediction(Prediction("p2", "fraud", "3", 200, {"x": 2.0}, 0))
>>> j.add_feedback(Feedback("f1", "p1", "fraud", 900, 1)).label
1
>>> j.expire(1500)  # p2 waited longer than ttl_ms of event time
1
>>> len(j)
0
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

from driftline.contract import Feedback, Labeled, Prediction

Key = tuple[str, str]  # ("p", prediction event_id) or ("f", prediction_id of early feedback)


class LabelJoin:
    """The pending side of one model's prediction/feedback join."""

    def __init__(self, model_id: str, *, ttl_ms: int, max_pending: int) -> None:
        self.model_id = model_id
        self.ttl_ms = ttl_ms
        self.max_pending = max_pending
        # ("p", ts, version, features, prediction) or ("f", ts, label, feedback event_id)
        self._pending: dict[Key, tuple] = {}
        # (ts, arrival, key) of every entry added, oldest event time first; entries that
        # were joined stay in the heap until they reach its top and are skipped there.
        self._heap: list[tuple[int, int, Key]] = []
        self._arrivals = 0
        self._new: set[Key] = set()  # added since the last changes()
        self._stored: set[Key] = set()  # written to the state topic and not deleted since

    def __len__(self) -> int:
        return len(self._pending)

    def add_prediction(self, p: Prediction) -> Labeled | None:
        early = self._take(("f", p.event_id))
        if early is not None:
            return _labeled(p.event_id, self.model_id, p.model_version, p.ts, p.features,
                            p.prediction, label=early[2], label_ts=early[1])
        self._wait(("p", p.event_id), ("p", p.ts, p.model_version, p.features, p.prediction))
        return None

    def add_feedback(self, f: Feedback) -> Labeled | None:
        pending = self._take(("p", f.prediction_id))
        if pending is not None:
            _, ts, version, features, prediction = pending
            return _labeled(f.prediction_id, self.model_id, version, ts, features, prediction,
                            label=f.label, label_ts=f.ts)
        # Feedback can overtake its prediction: the two topics are read independently.
        self._wait(("f", f.prediction_id), ("f", f.ts, f.label, f.event_id))
        return None

    def add_all(self, events: Iterable[Prediction | Feedback]) -> list[Labeled]:
        """:meth:`add_prediction` or :meth:`add_feedback` of each event, in order, in one loop;
        the examples joined."""
        pending, new, heap, model_id = self._pending, self._new, self._heap, self.model_id
        pop, push = pending.pop, heapq.heappush
        arrivals = self._arrivals
        out = []
        for ev in events:
            if type(ev) is Prediction:
                eid = ev.event_id
                early = pop(("f", eid), None)
                if early is not None:
                    new.discard(("f", eid))
                    out.append(Labeled(eid, model_id, ev.model_version, ev.ts, early[1],
                                       ev.features, ev.prediction, early[2]))
                    continue
                key, value = ("p", eid), ("p", ev.ts, ev.model_version, ev.features, ev.prediction)
            else:
                pid = ev.prediction_id
                waiting = pop(("p", pid), None)
                if waiting is not None:
                    new.discard(("p", pid))
                    out.append(Labeled(pid, model_id, waiting[2], waiting[1], ev.ts,
                                       waiting[3], waiting[4], ev.label))
                    continue
                key, value = ("f", pid), ("f", ev.ts, ev.label, ev.event_id)
            if key not in pending:  # a duplicate keeps its first arrival
                pending[key] = value
                arrivals += 1
                push(heap, (value[1], arrivals, key))
                new.add(key)
        self._arrivals = arrivals
        return out

    def expire(self, clock_ts: int | None) -> int:
        """Drop entries older than the TTL or over the size bound; return the predictions dropped."""
        if clock_ts is None:
            return 0
        dropped = 0
        horizon = clock_ts - self.ttl_ms
        heap = self._heap
        while heap and (heap[0][0] < horizon or len(self._pending) > self.max_pending):
            _, _, key = heapq.heappop(heap)
            value = self._take(key)
            if value is not None:  # None: joined earlier
                dropped += value[0] == "p"
        if len(heap) > 2 * len(self._pending) + 1024:
            self._heap = [e for e in heap if e[2] in self._pending]
            heapq.heapify(self._heap)
        return dropped

    def _take(self, key: Key) -> Any:
        value = self._pending.pop(key, None)
        if value is not None:
            self._new.discard(key)
        return value

    def _wait(self, key: Key, value: tuple) -> None:
        """Keep ``value`` (whose second item is its event time) until joined or expired."""
        if key not in self._pending:  # a duplicate keeps its first arrival
            self._pending[key] = value
            self._arrivals += 1
            heapq.heappush(self._heap, (value[1], self._arrivals, key))
            self._new.add(key)

    # ------------------------------------------------------------ persistence

    def changes(self) -> tuple[dict[Key, tuple], list[Key]]:
        """Entries to write (new since the last call, still waiting) and keys to delete.

        A deletion is reported only for an entry that was written, so an entry
        joined within one interval costs the state topic nothing.
        """
        writes = {k: self._pending[k] for k in self._new}
        gone = [k for k in self._stored if k not in self._pending]
        self._stored.difference_update(gone)
        self._stored.update(writes)
        self._new = set()
        return writes, gone

    def restore(self, entries: Iterable[tuple[Key, tuple]]) -> None:
        """Take back entries read from the state topic (after a restart or a rebalance)."""
        for key, value in entries:
            key = (str(key[0]), str(key[1]))
            if key in self._pending:
                continue
            self._pending[key] = tuple(value)
            self._arrivals += 1
            self._heap.append((int(value[1]), self._arrivals, key))
            self._stored.add(key)
        heapq.heapify(self._heap)

    @property
    def pending(self) -> dict[Key, tuple]:
        """The entries waiting, by key (read-only use)."""
        return self._pending


def _labeled(event_id: str, model_id: str, version: str, ts: int, features: dict[str, Any],
             prediction: Any, *, label: Any, label_ts: int) -> Labeled:
    return Labeled(event_id=event_id, model_id=model_id, model_version=version, ts=ts,
                   label_ts=label_ts, features=features, prediction=prediction, label=label)

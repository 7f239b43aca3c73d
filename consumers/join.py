"""Joins predictions with their late feedback by prediction id, in bounded memory.

Pending predictions (and feedback that arrived before its prediction) live in
a mapping the caller provides: a plain ``dict`` in process, a faust table with
changelog recovery in the monitor worker. Entries leave the mapping when they
are joined, when their event time is more than ``ttl_ms`` behind the newest
event seen, or when more than ``max_pending`` are waiting (oldest first), so
predictions that never get a label cannot grow memory without bound.

>>> from driftline.contract import Prediction, Feedback
>>> j = LabelJoin("fraud", {}, ttl_ms=1000, max_pending=10)
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

from collections import deque
from collections.abc import MutableMapping
from typing import Any

from driftline.contract import Feedback, Labeled, Prediction

SEP = "\x1f"  # cannot occur in a JSON-decoded id typed by a person; keeps keys splittable


def pending_key(model_id: str, kind: str, event_id: str) -> str:
    return f"{model_id}{SEP}{kind}{SEP}{event_id}"


def model_of_key(key: str) -> str:
    return key.split(SEP, 1)[0]


class LabelJoin:
    """The pending side of one model's prediction/feedback join."""

    def __init__(self, model_id: str, store: MutableMapping[str, Any], *,
                 ttl_ms: int, max_pending: int) -> None:
        self.model_id = model_id
        self.store = store
        self.ttl_ms = ttl_ms
        self.max_pending = max_pending
        # (ts, key) in arrival order; joined keys are removed from the store only
        # and skipped here lazily, so a join costs O(1).
        self._order: deque[tuple[int, str]] = deque()
        self._live = 0
        self.rebuild()

    def __len__(self) -> int:
        return self._live

    def rebuild(self) -> None:
        """Recover the expiry order from the store (after a restart or a rebalance)."""
        prefix = self.model_id + SEP
        # None: a value the table could not read back, which counts as absent.
        entries = sorted((v[1], k) for k, v in list(self.store.items())
                         if v is not None and k.startswith(prefix))
        self._order = deque(entries)
        self._live = len(entries)

    def add_prediction(self, p: Prediction) -> Labeled | None:
        early = self._take(pending_key(self.model_id, "f", p.event_id))
        if early is not None:
            return _labeled(p.event_id, self.model_id, p.model_version, p.ts, p.features,
                            p.prediction, label=early[2], label_ts=early[1])
        self._wait(pending_key(self.model_id, "p", p.event_id),
                   ("p", p.ts, p.model_version, p.features, p.prediction))
        return None

    def add_feedback(self, f: Feedback) -> Labeled | None:
        pending = self._take(pending_key(self.model_id, "p", f.prediction_id))
        if pending is not None:
            _, ts, version, features, prediction = pending
            return _labeled(f.prediction_id, self.model_id, version, ts, features, prediction,
                            label=f.label, label_ts=f.ts)
        # Feedback can overtake its prediction: the two topics are read independently.
        self._wait(pending_key(self.model_id, "f", f.prediction_id),
                   ("f", f.ts, f.label, f.event_id))
        return None

    def expire(self, watermark_ts: int) -> int:
        """Drop entries older than the TTL or over the size bound; return predictions dropped."""
        dropped = 0
        horizon = watermark_ts - self.ttl_ms
        order = self._order
        while order and (order[0][0] < horizon or self._live > self.max_pending):
            value = self._take(order.popleft()[1])
            if value is not None:  # None: joined earlier
                dropped += value[0] == "p"
        if len(order) > 2 * self.max_pending + 1024:
            self._compact()
        return dropped

    def _take(self, key: str) -> Any:
        """Remove and return the entry under ``key``, or None."""
        value = self.store.get(key)
        if value is not None:
            del self.store[key]
            self._live -= 1
        return value

    def _wait(self, key: str, value: tuple) -> None:
        """Keep ``value`` (whose second item is its event time) until joined or expired."""
        if key not in self.store:  # a duplicate keeps its first arrival
            self.store[key] = value
            self._order.append((value[1], key))
            self._live += 1

    def _compact(self) -> None:
        self._order = deque(e for e in self._order if e[1] in self.store)


def _labeled(event_id: str, model_id: str, version: str, ts: int, features: dict[str, Any],
             prediction: Any, *, label: Any, label_ts: int) -> Labeled:
    return Labeled(event_id=event_id, model_id=model_id, model_version=version, ts=ts,
                   label_ts=label_ts, features=features, prediction=prediction, label=label)

"""The order a replay feeds the monitor: each topic in its own order, interleaved by event time.

The live monitor reads a model's predictions and feedback each in the order
of its partition, and a label comes after the prediction it labels because
it is published later. The replay interleaves the two retained streams by
event time without reordering either, so a stream whose own times step back
(a late service) is replayed as the monitor read it. At the same event time
a prediction goes first, as it was published first.

>>> from driftline.contract import Feedback, Prediction
>>> preds = [Prediction(f"p{i}", "m", "1", ts, {"x": 1.0}, 0) for i, ts in enumerate([10, 30, 20, 40])]
>>> labels = [Feedback(f"f{i}", f"p{i}", "m", ts, 0) for i, ts in enumerate([30, 35])]
>>> [ev.event_id for ev, _ in merge_by_event_time(((p, 0) for p in preds), ((f, 0) for f in labels))]
['p0', 'p1', 'p2', 'f0', 'f1', 'p3']
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Any


def merge_by_event_time(predictions: Iterable[tuple[Any, int]],
                        feedback: Iterable[tuple[Any, int]]) -> Iterator[tuple[Any, int]]:
    """``(event, kafka_ts)`` pairs of both streams, lazily, in replay order (see the module)."""
    tagged = (((ev.ts, 0), ev, kts) for ev, kts in predictions), \
             (((ev.ts, 1), ev, kts) for ev, kts in feedback)
    for _, ev, kts in heapq.merge(*tagged, key=lambda item: item[0]):
        yield ev, kts

"""Builders for the two events a service publishes, filling in the id and the time.

>>> p = predict_event("fraud", "3", {"amount": 12.5, "country": "NL"}, 1, ts=1732356000123, event_id="p1")
>>> p.encode()
b'{"event_id":"p1","model_id":"fraud","model_version":"3","ts":1732356000123,"features":{"amount":12.5,"country":"NL"},"prediction":1}'
>>> f = feedback_event(p.event_id, "fraud", 0, ts=1732356090000)
>>> f.prediction_id, f.label, len(f.event_id)
('p1', 0, 32)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from driftline.contract import Feedback, Prediction, new_id


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds, the unit of every ``ts`` field."""
    return time.time_ns() // 1_000_000


def predict_event(
    model_id: str,
    model_version: str,
    features: Mapping[str, Any],
    prediction: Any,
    scores: Mapping[str, float] | None = None,
    ts: int | None = None,
    event_id: str | None = None,
) -> Prediction:
    """A :class:`~driftline.contract.Prediction`; ``ts`` defaults to now, ``event_id`` to a new id."""
    return Prediction(
        event_id=new_id() if event_id is None else event_id,
        model_id=model_id,
        model_version=str(model_version),
        ts=now_ms() if ts is None else ts,
        features=dict(features),
        prediction=prediction,
        scores=None if scores is None else dict(scores),
    )


def feedback_event(prediction_id: str, model_id: str, label: Any, ts: int | None = None) -> Feedback:
    """A :class:`~driftline.contract.Feedback` for the prediction ``prediction_id``."""
    return Feedback(
        event_id=new_id(),
        prediction_id=prediction_id,
        model_id=model_id,
        ts=now_ms() if ts is None else ts,
        label=label,
    )

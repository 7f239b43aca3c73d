"""Dead-letter reasons, folded into a few classes so that a label stays bounded.

A dead letter's reason is free text that names the field, the value or the
limit; a metric labelled by it would grow a series per message. The classes
below are what an operator acts on.

>>> reason_class("missing field 'model_id'")
'invalid_event'
>>> reason_class("message of 2000000 bytes is over the limit of 1000000")
'too_large'
>>> reason_class("Kafka key b'x' is not the model_id 'fraud'")
'key'
>>> reason_class("slack refused the delivery: HTTP 404 no_team")
'delivery_failed'
>>> reason_class("")
'other'
"""

from __future__ import annotations

# First match wins: the more specific phrases come first.
_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("too_large", ("over the limit", "too large", "raw holds the first")),
    ("key", ("kafka key", "no kafka key")),
    ("model_limit", ("driftline_max_models", "already watches")),
    ("event_time", ("event time", "from the model's clock", "skew")),
    ("too_many_features", ("driftline_max_features", "features, more than")),
    ("output_refused", ("output to ",)),
    ("delivery_failed", ("delivery", "refused the", "gave up")),
    ("retrain_failed", ("retrain", "training")),
    ("invalid_event", ("missing field", "must be", "expected", "invalid", "not valid", "json",
                       "malformed", "empty message", "unknown field", "utf-8")),
)

REASON_CLASSES: tuple[str, ...] = tuple(name for name, _ in _CLASSES) + ("other",)


def reason_class(reason: str) -> str:
    """The class of a dead letter's reason: one of :data:`REASON_CLASSES`."""
    text = reason.lower()
    for name, phrases in _CLASSES:
        if any(p in text for p in phrases):
            return name
    return "other"

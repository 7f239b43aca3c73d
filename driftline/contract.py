"""Wire contract v1: topic names, event types, and their JSON encoding.

Every event is one UTF-8 JSON object per Kafka message, keyed by ``model_id``.
Services in other languages publish and read these topics without driftline's
code, so the checks here follow the JSON Schemas shipped in
``driftline/schemas/`` exactly (``tests/test_contract.py`` holds them to it).
The checks are hand-written because they run once per event on the hot path.

>>> topics = Topics("driftline.")
>>> topics.predictions, topics.dead_letter
('driftline.predictions', 'driftline.dead-letter')
>>> raw = b'{"event_id": "e1", "model_id": "fraud", "model_version": "3", "ts": 1, '
>>> raw += b'"features": {"amount": 12.5, "country": "NL"}, "prediction": 1}'
>>> p = decode_prediction(raw)
>>> p.model_id, p.features["country"], p.scores
('fraud', 'NL', None)
>>> decode_prediction(b'{"event_id": "e1"}')
Traceback (most recent call last):
...
driftline.exceptions.InvalidEvent: missing field 'model_id'
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import uuid
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, ClassVar

from driftline.exceptions import InvalidEvent

CONTRACT_VERSION = 1
ALERT_KINDS = ("data_drift", "concept_drift", "performance", "data_quality")
SEVERITIES = ("warning", "critical")
# An alert opens an episode ("firing") and a last one closes it ("resolved"); both carry
# the episode's id, stable for one (model, version, kind, feature) episode.
ALERT_STATUSES = ("firing", "resolved")
VERSION_STATUSES = ("champion", "rejected")
# What a retrain request asks for. "rollback" names the version to demote in
# model_version; its since_ts is that version's first prediction, so a retrainer
# that predates the field reads it as a retrain on the traffic the version served.
RETRAIN_ACTIONS = ("retrain", "rollback")

# topic attribute -> name after the prefix
TOPIC_SUFFIXES: dict[str, str] = {
    "predictions": "predictions",
    "feedback": "feedback",
    "labeled": "labeled",
    "metrics": "metrics",
    "alerts": "alerts",
    "retrain_requests": "retrain-requests",
    "model_versions": "model-versions",
    "dead_letter": "dead-letter",
}


@dataclasses.dataclass(frozen=True)
class Topics:
    """The topic names for one prefix (default ``driftline.``)."""

    prefix: str = "driftline."

    def __getattr__(self, name: str) -> str:
        try:
            return self.prefix + TOPIC_SUFFIXES[name]
        except KeyError:
            raise AttributeError(name) from None

    def all(self) -> list[str]:
        return [self.prefix + suffix for suffix in TOPIC_SUFFIXES.values()]


def new_id() -> str:
    return uuid.uuid4().hex


# ---------------------------------------------------------------- checks


def _reject_constant(name: str) -> Any:
    raise InvalidEvent(f"{name} is not a valid JSON number")


def loads(raw: bytes, max_bytes: int | None = None) -> dict[str, Any]:
    """Parse one message body into a JSON object, rejecting NaN and Infinity."""
    if raw is None:
        raise InvalidEvent("empty message (null value)")
    if max_bytes is not None and len(raw) > max_bytes:
        raise InvalidEvent(f"message of {len(raw)} bytes is over the limit of {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _is_number(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (
        isinstance(v, float) and math.isfinite(v)
    )


def _check_id(obj: Mapping[str, Any], name: str) -> str:
    if name not in obj:
        raise InvalidEvent(f"missing field {name!r}")
    v = obj[name]
    if not isinstance(v, str) or not v:
        raise InvalidEvent(f"field {name!r} must be a non-empty string, got {_show(v)}")
    return v


def _check_ts(obj: Mapping[str, Any], name: str = "ts") -> int:
    if name not in obj:
        raise InvalidEvent(f"missing field {name!r}")
    v = obj[name]
    # JSON has one number type: 1732356000123.0 is the same integer to a JSON Schema.
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise InvalidEvent(f"field {name!r} must be epoch milliseconds (integer >= 0), got {_show(v)}")
    return v


def _check_value(obj: Mapping[str, Any], name: str) -> Any:
    """A prediction or a label: a finite number, a string or a bool."""
    if name not in obj:
        raise InvalidEvent(f"missing field {name!r}")
    v = obj[name]
    if isinstance(v, (str, bool)) or _is_number(v):
        return v
    if isinstance(v, float):
        raise InvalidEvent(f"field {name!r} must be finite, got {v!r}")
    raise InvalidEvent(f"field {name!r} must be a number, string or bool, got {_show(v)}")


def _check_features(obj: Mapping[str, Any]) -> dict[str, Any]:
    if "features" not in obj:
        raise InvalidEvent("missing field 'features'")
    feats = obj["features"]
    if not isinstance(feats, dict):
        raise InvalidEvent(f"field 'features' must be an object, got {_show(feats)}")
    for k, v in feats.items():
        # None marks a missing value, which the monitor counts as data quality.
        if v is None or isinstance(v, (str, bool)) or _is_number(v):
            continue
        if isinstance(v, float):
            raise InvalidEvent(f"feature {k!r} must be finite, got {v!r}")
        raise InvalidEvent(f"feature {k!r} must be a number, string, bool or null, got {_show(v)}")
    return feats


def _check_scores(obj: Mapping[str, Any]) -> dict[str, float] | None:
    scores = obj.get("scores")
    if scores is None:
        return None
    if not isinstance(scores, dict):
        raise InvalidEvent(f"field 'scores' must be an object, got {_show(scores)}")
    for k, v in scores.items():
        if not _is_number(v):
            raise InvalidEvent(f"score {k!r} must be a finite number, got {_show(v)}")
    return scores


def _show(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a bool"
    return f"{type(v).__name__} {json.dumps(v, default=str)[:40]}"


# ---------------------------------------------------------------- events


class Event:
    """Common encoding for all event dataclasses."""

    schema: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if v is None and (f.name in _OMIT_WHEN_NONE or (self.schema, f.name) in _OMIT_WHEN_NONE):
                continue
            out[f.name] = v
        return out

    def encode(self) -> bytes:
        return dumps(self.to_dict())

    @property
    def key(self) -> bytes:
        return self.model_id.encode("utf-8")  # type: ignore[attr-defined]


# Optional fields that are left out of the JSON rather than sent as null:
# by name, or by (schema, name) where the name is required in other events.
_OMIT_WHEN_NONE = {"scores", ("retrain-request", "action"), ("retrain-request", "model_version"),
                   ("alert", "episode_id")}


def dumps(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode("utf-8")


@dataclasses.dataclass(frozen=True, slots=True)
class Prediction(Event):
    event_id: str
    model_id: str
    model_version: str
    ts: int
    features: dict[str, Any]
    prediction: Any
    scores: dict[str, float] | None = None
    schema: ClassVar[str] = "prediction"


@dataclasses.dataclass(frozen=True, slots=True)
class Feedback(Event):
    event_id: str
    prediction_id: str
    model_id: str
    ts: int
    label: Any
    schema: ClassVar[str] = "feedback"


@dataclasses.dataclass(frozen=True, slots=True)
class Labeled(Event):
    """A prediction joined with its label: one row of training data."""

    event_id: str  # the prediction's event_id
    model_id: str
    model_version: str
    ts: int  # the prediction's event time
    label_ts: int
    features: dict[str, Any]
    prediction: Any
    label: Any
    schema: ClassVar[str] = "labeled"


@dataclasses.dataclass(frozen=True, slots=True)
class Alert(Event):
    alert_id: str
    model_id: str
    model_version: str
    kind: str
    severity: str
    detector: str
    feature: str | None
    value: float
    threshold: float
    event_ts: int
    ts: int
    message: str
    episode_id: str | None = None
    status: str = "firing"
    schema: ClassVar[str] = "alert"


@dataclasses.dataclass(frozen=True, slots=True)
class RetrainRequest(Event):
    request_id: str
    model_id: str
    alert_ids: list[str]
    since_ts: int
    ts: int
    reason: str = ""
    action: str | None = None  # None or "retrain": train a challenger; "rollback": see RETRAIN_ACTIONS
    model_version: str | None = None  # with "rollback": the version to demote
    schema: ClassVar[str] = "retrain-request"

    @property
    def is_rollback(self) -> bool:
        return self.action == "rollback"


@dataclasses.dataclass(frozen=True, slots=True)
class ModelVersion(Event):
    model_id: str
    version: str
    status: str
    parent_version: str | None
    request_id: str | None
    artifact_uri: str | None
    sha256: str | None
    metrics: dict[str, Any]
    ts: int
    reason: str = ""
    schema: ClassVar[str] = "model-version"


@dataclasses.dataclass(frozen=True, slots=True)
class Metrics(Event):
    """A periodic snapshot of one model's health."""

    model_id: str
    model_version: str
    ts: int
    event_ts: int
    n_predictions: int
    n_labeled: int
    n_expired: int
    n_invalid: int
    accuracy: float | None
    label_coverage: float | None
    features: dict[str, Any]
    schema: ClassVar[str] = "metrics"


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter(Event):
    source_topic: str
    partition: int
    offset: int
    error: str
    raw: str  # base64 of the original bytes
    ts: int
    raw_key: str | None = None  # base64 of the original Kafka key
    schema: ClassVar[str] = "dead-letter"

    @classmethod
    def of(
        cls, topic: str, partition: int, offset: int, error: str, raw: bytes | None,
        ts: int, key: bytes | None = None,
    ) -> DeadLetter:
        return cls(
            source_topic=topic, partition=partition, offset=offset, error=error,
            raw=base64.b64encode(raw or b"").decode("ascii"), ts=ts,
            raw_key=None if key is None else base64.b64encode(key).decode("ascii"),
        )

    @property
    def key(self) -> bytes | None:
        """Dead letters keep the key of the message they hold."""
        return None if self.raw_key is None else base64.b64decode(self.raw_key)

    @property
    def raw_bytes(self) -> bytes:
        return base64.b64decode(self.raw)


# ---------------------------------------------------------------- decoders


def decode_prediction(raw: bytes, max_bytes: int | None = None) -> Prediction:
    obj = loads(raw, max_bytes)
    return Prediction(
        event_id=_check_id(obj, "event_id"),
        model_id=_check_id(obj, "model_id"),
        model_version=_check_id(obj, "model_version"),
        ts=_check_ts(obj),
        features=_check_features(obj),
        prediction=_check_value(obj, "prediction"),
        scores=_check_scores(obj),
    )


def decode_feedback(raw: bytes, max_bytes: int | None = None) -> Feedback:
    obj = loads(raw, max_bytes)
    return Feedback(
        event_id=_check_id(obj, "event_id"),
        prediction_id=_check_id(obj, "prediction_id"),
        model_id=_check_id(obj, "model_id"),
        ts=_check_ts(obj),
        label=_check_value(obj, "label"),
    )


def _from_known(cls: type, obj: Mapping[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    missing = [n for n, f in cls.__dataclass_fields__.items()
               if n not in obj and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise InvalidEvent(f"missing field {missing[0]!r}")
    return cls(**{k: v for k, v in obj.items() if k in names})


def decode_labeled(raw: bytes, max_bytes: int | None = None) -> Labeled:
    obj = loads(raw, max_bytes)
    _check_features(obj)
    _check_ts(obj)
    _check_value(obj, "label")
    return _from_known(Labeled, obj)


def decode_alert(raw: bytes, max_bytes: int | None = None) -> Alert:
    obj = loads(raw, max_bytes)
    ev = _from_known(Alert, obj)
    if ev.kind not in ALERT_KINDS:
        raise InvalidEvent(f"field 'kind' must be one of {ALERT_KINDS}, got {ev.kind!r}")
    if ev.severity not in SEVERITIES:
        raise InvalidEvent(f"field 'severity' must be one of {SEVERITIES}, got {ev.severity!r}")
    if ev.status not in ALERT_STATUSES:
        raise InvalidEvent(f"field 'status' must be one of {ALERT_STATUSES}, got {ev.status!r}")
    return ev


def decode_retrain_request(raw: bytes, max_bytes: int | None = None) -> RetrainRequest:
    obj = loads(raw, max_bytes)
    _check_id(obj, "request_id")
    _check_id(obj, "model_id")
    _check_ts(obj, "since_ts")
    if not isinstance(obj.get("alert_ids"), list):
        raise InvalidEvent("field 'alert_ids' must be a list of strings")
    action = obj.get("action")
    if action is not None and action not in RETRAIN_ACTIONS:
        raise InvalidEvent(f"field 'action' must be one of {RETRAIN_ACTIONS}, got {_show(action)}")
    if action == "rollback" or obj.get("model_version") is not None:
        _check_id(obj, "model_version")
    return _from_known(RetrainRequest, obj)


def decode_model_version(raw: bytes, max_bytes: int | None = None) -> ModelVersion:
    obj = loads(raw, max_bytes)
    _check_id(obj, "model_id")
    _check_id(obj, "version")
    ev = _from_known(ModelVersion, obj)
    if ev.status not in VERSION_STATUSES:
        raise InvalidEvent(f"field 'status' must be one of {VERSION_STATUSES}, got {ev.status!r}")
    return ev


def decode_metrics(raw: bytes, max_bytes: int | None = None) -> Metrics:
    return _from_known(Metrics, loads(raw, max_bytes))


def decode_dead_letter(raw: bytes, max_bytes: int | None = None) -> DeadLetter:
    return _from_known(DeadLetter, loads(raw, max_bytes))


DECODERS: dict[str, Callable[..., Event]] = {
    "prediction": decode_prediction,
    "feedback": decode_feedback,
    "labeled": decode_labeled,
    "alert": decode_alert,
    "retrain-request": decode_retrain_request,
    "model-version": decode_model_version,
    "metrics": decode_metrics,
    "dead-letter": decode_dead_letter,
}


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema shipped for event type ``name`` (e.g. ``"prediction"``)."""
    text = resources.files("driftline").joinpath("schemas", f"{name}.json").read_text("utf-8")
    return json.loads(text)


def schema_names() -> list[str]:
    return sorted(DECODERS)

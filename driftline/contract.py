"""Wire contract v1: topic names, event types, and their JSON encoding.

Every event is one UTF-8 JSON object per Kafka message, keyed by ``model_id``.
Services in other languages publish and read these topics without driftline's
code, so the checks here follow the JSON Schemas shipped in
``driftline/schemas/`` exactly (``tests/test_contract.py`` holds them to it).

Events are typed structs that msgspec decodes and checks in one pass; a
message that fails is looked at again by slower, plain checks
(:mod:`driftline.explain`) only to say precisely why. Besides the schemas,
the decoders hold every value to what the monitor can store and compute on:
ids and feature names of at most :data:`MAX_ID_CHARS` characters, event times
below :data:`MAX_TS`, integers within 64 bits, numbers within float64.

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
import hashlib
import uuid
from collections.abc import Callable
from importlib import resources
from typing import Annotated, Any, ClassVar, Literal, Union

import msgspec
from msgspec import Meta

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
# The name the monitor gives a model's prediction among its columns (in alerts too).
PREDICTION_COLUMN = "<prediction>"

# Longest id (event, model, version, prediction) and feature name accepted.
MAX_ID_CHARS = 256
# Event times at or above 2**53 ms (year 285,000) are not epoch milliseconds, and
# JSON readers in other languages cannot hold them exactly.
MAX_TS = 2 ** 53
_INT64 = (-(2 ** 63), 2 ** 63 - 1)

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


class Topics:
    """The topic names for one prefix (default ``driftline.``)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "driftline.") -> None:
        self.prefix = prefix

    def __getattr__(self, name: str) -> str:
        try:
            return self.prefix + TOPIC_SUFFIXES[name]
        except KeyError:
            raise AttributeError(name) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Topics) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)

    def __repr__(self) -> str:
        return f"Topics(prefix={self.prefix!r})"

    def all(self) -> list[str]:
        return [self.prefix + suffix for suffix in TOPIC_SUFFIXES.values()]


def new_id() -> str:
    return uuid.uuid4().hex


# ---------------------------------------------------------------- value types

Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID_CHARS)]
Ts = Union[Annotated[int, Meta(ge=0, lt=MAX_TS)], Annotated[float, Meta(ge=0, lt=MAX_TS)]]
Int64 = Annotated[int, Meta(ge=_INT64[0], le=_INT64[1])]
# A prediction or a label: a number, a string or a bool (msgspec rejects NaN and
# Infinity, which are not JSON, and numbers beyond float64).
Value = Union[Int64, float, str, bool]
FeatureName = Annotated[str, Meta(max_length=MAX_ID_CHARS)]
Features = dict[FeatureName, Union[Int64, float, str, bool, None]]


# ---------------------------------------------------------------- events


class Event(msgspec.Struct, frozen=True, omit_defaults=True):
    """Common encoding for every event: optional fields at their default are left out."""

    schema: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)

    def encode(self) -> bytes:
        return _ENCODER.encode(self)

    @property
    def key(self) -> bytes:
        return self.model_id.encode("utf-8")  # type: ignore[attr-defined]


def _enc_hook(obj: Any) -> Any:
    # numpy scalars reach events from the detectors' statistics.
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__}")


_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and Infinity, which JSON lacks, become null."""
    return _ENCODER.encode(obj)


class Prediction(Event, frozen=True):
    event_id: Id
    model_id: Id
    model_version: Id
    ts: Ts
    features: Features
    prediction: Value
    scores: Union[dict[str, float], None] = None
    schema: ClassVar[str] = "prediction"


class Feedback(Event, frozen=True):
    event_id: Id
    prediction_id: Id
    model_id: Id
    ts: Ts
    label: Value
    schema: ClassVar[str] = "feedback"


class Labeled(Event, frozen=True):
    """A prediction joined with its label: one row of training data."""

    event_id: Id  # the prediction's event_id
    model_id: Id
    model_version: Id
    ts: Ts  # the prediction's event time
    label_ts: Ts
    features: Features
    prediction: Value
    label: Value
    schema: ClassVar[str] = "labeled"


class Alert(Event, frozen=True, omit_defaults=False):
    alert_id: str
    model_id: str
    model_version: str
    kind: Literal["data_drift", "concept_drift", "performance", "data_quality"]
    severity: Literal["warning", "critical"]
    detector: str
    feature: Union[str, None]
    value: float
    threshold: float
    event_ts: int
    ts: int
    message: str
    episode_id: Union[str, None] = None
    status: Literal["firing", "resolved"] = "firing"
    schema: ClassVar[str] = "alert"

    def encode(self) -> bytes:
        if self.episode_id is None:  # written before episodes had ids: the field is left out
            out = msgspec.to_builtins(self)
            del out["episode_id"]
            return _ENCODER.encode(out)
        return _ENCODER.encode(self)


class RetrainRequest(Event, frozen=True):
    request_id: Id
    model_id: Id
    alert_ids: list[str]
    since_ts: Ts
    ts: int
    reason: str = ""
    # None or "retrain": train a challenger; "rollback": see RETRAIN_ACTIONS
    action: Union[Literal["retrain", "rollback"], None] = None
    model_version: Union[Id, None] = None  # with "rollback": the version to demote
    # The Kafka timestamp (the monitor's processing time) from which `labeled` holds the
    # window's examples; readers seek there. Absent: the window is sought at since_ts.
    labeled_from_ts: Union[int, None] = None
    schema: ClassVar[str] = "retrain-request"

    @property
    def is_rollback(self) -> bool:
        return self.action == "rollback"


class ModelVersion(Event, frozen=True):
    model_id: Id
    version: Id
    status: Literal["champion", "rejected"]
    parent_version: Union[str, None]
    request_id: Union[str, None]
    artifact_uri: Union[str, None]
    sha256: Union[str, None]
    metrics: dict[str, Any]
    ts: int
    reason: str = ""
    schema: ClassVar[str] = "model-version"


class Metrics(Event, frozen=True, omit_defaults=False):
    """A periodic snapshot of one model's health."""

    model_id: str
    model_version: str
    ts: int
    event_ts: int
    n_predictions: int
    n_labeled: int
    n_expired: int
    n_invalid: int
    accuracy: Union[float, None]
    label_coverage: Union[float, None]
    features: dict[str, Any]
    # The latest statistic of each drift test and the threshold it is compared with:
    # {"detector", "feature" (null for a test of the whole model), "statistic", "threshold"}.
    drift: list[dict[str, Any]] = msgspec.field(default_factory=list)
    schema: ClassVar[str] = "metrics"


# The head of a message kept in a dead letter whose original is too large to carry whole.
DEAD_LETTER_HEAD_BYTES = 65_536


class DeadLetter(Event, frozen=True):
    source_topic: str
    partition: int
    offset: int
    error: str
    raw: str  # base64 of the original bytes (their head, if raw_truncated)
    ts: int
    raw_key: Union[str, None] = None  # base64 of the original Kafka key
    # Set when `raw` holds only the first bytes of a message too large to carry whole:
    # the original's size and sha256, so it can be found and checked.
    raw_size: Union[int, None] = None
    raw_sha256: Union[str, None] = None
    schema: ClassVar[str] = "dead-letter"

    @classmethod
    def of(
        cls, topic: str, partition: int, offset: int, error: str, raw: bytes | None,
        ts: int, key: bytes | None = None, max_raw_bytes: int | None = None,
    ) -> DeadLetter:
        """A dead letter for one message; with ``max_raw_bytes``, a larger one keeps its head.

        Base64 grows a message by a third, so a message near the broker's
        limit does not fit in a dead letter whole.
        """
        raw = raw or b""
        size = digest = None
        if max_raw_bytes is not None and len(raw) > max_raw_bytes:
            size, digest = len(raw), hashlib.sha256(raw).hexdigest()
            error = f"{error} (raw holds the first {max_raw_bytes} of {size} bytes)"
            raw = raw[:max_raw_bytes]
        if key is not None and max_raw_bytes is not None and len(key) > max_raw_bytes:
            key = key[:max_raw_bytes]
        return cls(
            source_topic=topic, partition=partition, offset=offset, error=error,
            raw=base64.b64encode(raw).decode("ascii"), ts=ts,
            raw_key=None if key is None else base64.b64encode(key).decode("ascii"),
            raw_size=size, raw_sha256=digest,
        )

    @property
    def key(self) -> bytes | None:
        """Dead letters keep the key of the message they hold."""
        return None if self.raw_key is None else base64.b64decode(self.raw_key)

    @property
    def raw_bytes(self) -> bytes:
        return base64.b64decode(self.raw)


# ---------------------------------------------------------------- decoders


def _decoder(cls: type) -> Callable[..., Any]:
    typed = msgspec.json.Decoder(cls)

    def decode(raw: bytes, max_bytes: int | None = None) -> Any:
        if raw is None:
            raise InvalidEvent("empty message (null value)")
        if max_bytes is not None and len(raw) > max_bytes:
            raise InvalidEvent(f"message of {len(raw)} bytes is over the limit of {max_bytes}")
        try:
            event = typed.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError,
                TypeError, OverflowError) as exc:
            from driftline.explain import why_invalid

            raise InvalidEvent(why_invalid(raw, cls.schema, exc)) from None
        return _integral_times(event)

    decode.__name__ = f"decode_{cls.schema.replace('-', '_')}"
    decode.__doc__ = f"Decode and check one ``{cls.schema}`` message; raise InvalidEvent saying why not."
    return decode


_TIME_FIELDS = ("ts", "label_ts", "since_ts")


def _integral_times(event: Any) -> Any:
    """JSON has one number type: 1732356000123.0 is the integer 1732356000123 to a JSON Schema."""
    fixed = {}
    for name in _TIME_FIELDS:
        v = getattr(event, name, None)
        if type(v) is float:
            if not v.is_integer():
                raise InvalidEvent(f"field {name!r} must be epoch milliseconds (integer >= 0), got float {v!r}")
            fixed[name] = int(v)
    return msgspec.structs.replace(event, **fixed) if fixed else event


decode_prediction = _decoder(Prediction)
decode_feedback = _decoder(Feedback)
decode_labeled = _decoder(Labeled)
decode_alert = _decoder(Alert)
_decode_retrain_request = _decoder(RetrainRequest)
decode_model_version = _decoder(ModelVersion)
decode_metrics = _decoder(Metrics)
decode_dead_letter = _decoder(DeadLetter)


def decode_retrain_request(raw: bytes, max_bytes: int | None = None) -> RetrainRequest:
    """Decode and check one ``retrain-request`` message; a rollback must name its version."""
    request = _decode_retrain_request(raw, max_bytes)
    if request.action == "rollback" and request.model_version is None:
        raise InvalidEvent("missing field 'model_version' (a rollback names the version to demote)")
    return request


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
EVENT_TYPES: dict[str, type] = {cls.schema: cls for cls in (
    Prediction, Feedback, Labeled, Alert, RetrainRequest, ModelVersion, Metrics, DeadLetter)}


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema shipped for event type ``name`` (e.g. ``"prediction"``)."""
    import json

    text = resources.files("driftline").joinpath("schemas", f"{name}.json").read_text("utf-8")
    return json.loads(text)


def schema_names() -> list[str]:
    return sorted(DECODERS)

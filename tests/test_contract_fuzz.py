"""Generated bad input for the decoders and for the monitor behind them.

Whatever the bytes, a decoder returns an event that holds to the contract or
raises :class:`InvalidEvent` with a reason; nothing else escapes it. An event
that decodes can be processed by a model's monitor and its state written and
read back. Inputs are drawn from arbitrary bytes, arbitrary JSON values
(huge integers, NaN and Infinity, lone surrogates, control characters, deep
nesting) and valid events with fields dropped, retyped or blown up.
"""

from __future__ import annotations

import json
import math
import os

import jsonschema
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from driftline import contract as c
from driftline.consumers.monitor import ModelMonitor, MonitorConfig
from driftline.consumers.state import codec
from driftline.exceptions import InvalidEvent

FAST = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 150)), deadline=None,
                derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LIMIT = 1_000_000
VALIDATORS = {name: jsonschema.Draft202012Validator(c.schema(name)) for name in c.DECODERS}

# ---------------------------------------------------------------- building blocks

LONE_SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
ODD_CHARS = st.sampled_from(["\x00", "\x1f", "\x7f", "\u200b", "\u202e", "\ufeff", "\uffff",
                             "\U0010ffff", "\U0001f600", "e\u0301", "\u0130", '"', "\\", "/"])
ODD_TEXT = st.lists(st.one_of(st.characters(), ODD_CHARS, LONE_SURROGATES), max_size=12).map("".join)
HUGE_INTS = st.one_of(
    st.integers(),
    st.sampled_from([2 ** 53 - 1, 2 ** 53, 2 ** 63 - 1, 2 ** 63, -(2 ** 63), -(2 ** 63) - 1,
                     2 ** 64, 10 ** 400, -(10 ** 400)]),
)
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([1e308, -1e308, 5e-324, -0.0, 2.0 ** 53, 2.0 ** 53 - 1]))
SCALARS = st.one_of(st.none(), st.booleans(), HUGE_INTS, FLOATS, ODD_TEXT)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(ODD_TEXT, inner, max_size=5)),
    max_leaves=30,
)


def to_bytes(value, *, ascii_only: bool) -> bytes:
    """JSON text the way a careless writer sends it: NaN, Infinity, lone surrogates and all."""
    text = json.dumps(value, allow_nan=True, ensure_ascii=ascii_only)
    # A lone surrogate has no UTF-8 form; "surrogatepass" writes the bytes a sloppy encoder would.
    return text.encode("utf-8", "surrogatepass")


@st.composite
def json_bytes(draw, values=JSON_VALUES) -> bytes:
    return to_bytes(draw(values), ascii_only=draw(st.booleans()))


IDS = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20)
TS = st.integers(0, 2 ** 53 - 1)
FEATURE_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 63), 2 ** 63 - 1),
                           st.floats(allow_nan=False, allow_infinity=False),
                           st.text(max_size=8))
VALUES = st.one_of(st.booleans(), st.integers(-(2 ** 63), 2 ** 63 - 1),
                   st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))


@st.composite
def valid_prediction(draw) -> dict:
    doc = {"event_id": draw(IDS), "model_id": draw(IDS), "model_version": draw(IDS), "ts": draw(TS),
           "features": draw(st.dictionaries(st.text(max_size=12), FEATURE_VALUES, max_size=6)),
           "prediction": draw(VALUES)}
    if draw(st.booleans()):
        doc["scores"] = draw(st.dictionaries(st.text(max_size=4),
                                             st.floats(allow_nan=False, allow_infinity=False), max_size=3))
    return doc


@st.composite
def valid_feedback(draw) -> dict:
    return {"event_id": draw(IDS), "prediction_id": draw(IDS), "model_id": draw(IDS), "ts": draw(TS),
            "label": draw(VALUES)}


ABSURD_TS = st.one_of(HUGE_INTS, FLOATS, st.sampled_from([-1, 2 ** 53, 9 * 10 ** 15, 1.5, "now", True]))


@st.composite
def mutated(draw, base) -> dict:
    """A valid event with one to three things done to it."""
    doc = dict(draw(base))
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(sorted(doc) + ["features"]))
        how = draw(st.sampled_from(["drop", "retype", "ts", "long_id", "wide", "odd_names", "extra"]))
        if how == "drop":
            doc.pop(field, None)
        elif how == "retype":
            doc[field] = draw(JSON_VALUES)
        elif how == "ts":
            doc[draw(st.sampled_from(["ts", "label_ts", "since_ts"]))] = draw(ABSURD_TS)
        elif how == "long_id":
            doc[draw(st.sampled_from(["event_id", "model_id", "model_version", "prediction_id"]))] = (
                "m" * draw(st.sampled_from([256, 257, 10_000])))
        elif how == "wide":
            doc["features"] = {f"f{j}": float(j) for j in range(draw(st.sampled_from([1000, 1001, 10_000])))}
        elif how == "odd_names":
            doc["features"] = draw(st.dictionaries(ODD_TEXT, SCALARS, max_size=5))
        else:
            doc[draw(ODD_TEXT)] = draw(JSON_VALUES)
    return doc


# ---------------------------------------------------------------- the property


def check(name: str, raw: bytes | None) -> c.Event | None:
    """Decode ``raw`` as ``name``; an event must hold to the contract, a refusal must say why."""
    try:
        event = c.DECODERS[name](raw, LIMIT)
    except InvalidEvent as exc:
        reason = str(exc)
        assert reason.strip() and "\n" not in reason, repr(reason)  # one line
        return None
    assert type(event) is c.EVENT_TYPES[name]
    doc = event.to_dict()
    VALIDATORS[name].validate(doc)
    _within_limits(event)
    again = c.DECODERS[name](event.encode(), LIMIT)  # what the monitor writes reads back the same
    assert again == event
    return event


def _within_limits(event: c.Event) -> None:
    for field in ("event_id", "model_id", "model_version", "prediction_id"):
        v = getattr(event, field, None)
        if v is not None:
            assert 1 <= len(v) <= c.MAX_ID_CHARS
            v.encode("utf-8")  # no lone surrogate: it must be a Kafka key and a state key
    for field in ("ts", "label_ts", "since_ts"):
        v = getattr(event, field, None)
        if v is not None:
            assert type(v) is int and 0 <= v < c.MAX_TS
    features = getattr(event, "features", None) or {}
    for k, v in features.items():
        assert len(k) <= c.MAX_ID_CHARS
        k.encode("utf-8")
        _plain(v)
    for field in ("prediction", "label"):
        if hasattr(event, field):
            _plain(getattr(event, field))


def _plain(v) -> None:
    if type(v) is float:
        assert math.isfinite(v)
    elif type(v) is int:
        assert -(2 ** 63) <= v < 2 ** 63
    elif type(v) is str:
        v.encode("utf-8")
    else:
        assert v is None or type(v) is bool, type(v)


ALL = sorted(c.DECODERS)


@FAST
@given(name=st.sampled_from(ALL), raw=st.binary(max_size=512))
@example(name="prediction", raw=b"\xed\xa0\x80")
@example(name="prediction", raw=b"")
def test_arbitrary_bytes_decode_or_say_why(name, raw):
    check(name, raw)


@FAST
@given(name=st.sampled_from(ALL), raw=json_bytes())
def test_arbitrary_json_decodes_or_says_why(name, raw):
    check(name, raw)


@FAST
@given(name=st.sampled_from(["prediction", "feedback", "labeled"]),
       raw=st.one_of(json_bytes(mutated(valid_prediction())), json_bytes(mutated(valid_feedback()))))
def test_mutated_events_decode_or_say_why(name, raw):
    check(name, raw)


@FAST
@given(depth=st.integers(900, 200_000), opener=st.sampled_from([b"[", b'{"a":']))
def test_deep_nesting_is_refused_with_a_reason(depth, opener):
    closer = b"]" if opener == b"[" else b"}"
    head = b'{"event_id":"e","model_id":"m","model_version":"1","ts":1,"prediction":1,"features":'
    raw = head + opener * depth + b"1" + closer * depth + b"}"
    assert check("prediction", raw) is None


@FAST
@given(doc=valid_prediction(), text=st.sampled_from([b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity",
                                                     b"1" + b"0" * 400, b"9" * 5000, b"1e-400"]))
def test_numbers_beyond_float64_and_int64_are_refused_or_exact(doc, text):
    doc["features"]["n"] = 0
    raw = json.dumps(doc, ensure_ascii=True).encode().replace(b'"n": 0', b'"n": ' + text)
    event = check("prediction", raw)
    if event is not None:  # only an underflow to 0.0 is a number float64 holds
        assert text == b"1e-400" and event.features["n"] == 0.0


@FAST
@given(docs=st.lists(valid_prediction(), min_size=1, max_size=3))
def test_valid_events_always_decode(docs):
    for doc in docs:
        raw = json.dumps(doc, ensure_ascii=False).encode()
        assert check("prediction", raw) is not None, doc


def test_a_message_over_the_size_limit_is_refused_before_it_is_parsed():
    raw = b'{"event_id":"' + b"a" * (LIMIT + 1)
    with pytest.raises(InvalidEvent, match=f"over the limit of {LIMIT}"):
        c.decode_prediction(raw, LIMIT)


# ---------------------------------------------------------------- what the monitor does with them

CONFIG = MonitorConfig(reference_size=20, window=10, metrics_every=15, max_features=1000)
ODD_FEATURE_VALUES = st.one_of(
    FEATURE_VALUES, st.sampled_from([1e308, -1e308, 2 ** 63 - 1, -(2 ** 63), 5e-324, "", "\x00", True]))


@st.composite
def odd_batch(draw) -> list:
    """A model's events that all decode: odd names, mixed types per feature, far apart in time."""
    model = "m"
    names = draw(st.lists(st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=6),
                                    st.sampled_from([c.PREDICTION_COLUMN, "", "\x00", "x"])),
                          min_size=0, max_size=6, unique=True))
    n = draw(st.integers(1, 40))
    versions = draw(st.lists(st.sampled_from(["1", "2"]), min_size=1, max_size=2))
    out = []
    for i in range(n):
        ts = draw(st.one_of(st.integers(0, 10_000), st.sampled_from([0, 2 ** 53 - 1, 10 ** 13])))
        feats = {k: draw(ODD_FEATURE_VALUES) for k in names if draw(st.booleans()) or i == 0}
        if draw(st.integers(0, 30)) == 0:
            feats = {f"w{j}": 1.0 for j in range(1001)}
        pred = draw(VALUES)
        event_id = f"p{draw(st.integers(0, n))}"  # duplicates too
        doc = {"event_id": event_id, "model_id": model, "model_version": versions[i % len(versions)],
               "ts": ts, "features": feats, "prediction": pred}
        out.append(c.decode_prediction(c.dumps(doc)))
        if draw(st.booleans()):
            label = {"event_id": f"f{i}", "prediction_id": f"p{draw(st.integers(0, 2 * n))}",
                     "model_id": model, "ts": min(ts + draw(st.integers(0, 100)), 2 ** 53 - 1), "label": draw(VALUES)}
            out.append(c.decode_feedback(c.dumps(label)))
    return out


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches=st.lists(odd_batch(), min_size=1, max_size=4))
def test_the_monitor_processes_any_decoded_events_and_keeps_its_state(batches):
    m = ModelMonitor("m", CONFIG)
    for k, events in enumerate(batches):
        out = m.process(events, now_ms=1_000 + k)
        assert all(0 <= i < len(events) and isinstance(why, str) and why for i, why in out.rejected)
        for event in out.labeled + out.metrics + out.alerts:
            event.encode()  # every output goes on the wire
    restored = ModelMonitor.from_state(codec.loads(codec.dumps(m.state_dict())), CONFIG)
    assert restored.counts == m.counts


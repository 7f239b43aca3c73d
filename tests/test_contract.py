"""Wire contract v1: the hand-written checks agree with the shipped JSON Schemas."""

from __future__ import annotations

import json

import jsonschema
import pytest

from driftline import contract as c
from driftline.exceptions import InvalidEvent

PREDICTION = {"event_id": "e1", "model_id": "fraud", "model_version": "3", "ts": 1732356000123,
              "features": {"amount": 12.5, "country": "NL", "n_items": 3, "vip": True, "x": None},
              "prediction": 1, "scores": {"0": 0.2, "1": 0.8}}
FEEDBACK = {"event_id": "f1", "prediction_id": "e1", "model_id": "fraud", "ts": 1732356090000,
            "label": 1}


def _without(d, key):
    return {k: v for k, v in d.items() if k != key}


def _with(d, **kw):
    return {**d, **kw}


# (schema name, document, valid?)
CASES = [
    ("prediction", PREDICTION, True),
    ("prediction", _without(PREDICTION, "scores"), True),
    ("prediction", _with(PREDICTION, prediction="fraud"), True),
    ("prediction", _with(PREDICTION, prediction=False), True),
    ("prediction", _with(PREDICTION, extra_field={"a": 1}), True),
    ("prediction", _with(PREDICTION, ts=1732356000123.0), True),
    ("prediction", _without(PREDICTION, "model_id"), False),
    ("prediction", _without(PREDICTION, "features"), False),
    ("prediction", _with(PREDICTION, ts="yesterday"), False),
    ("prediction", _with(PREDICTION, ts=-1), False),
    ("prediction", _with(PREDICTION, ts=True), False),
    ("prediction", _with(PREDICTION, ts=1.5), False),
    ("prediction", _with(PREDICTION, event_id=""), False),
    ("prediction", _with(PREDICTION, model_version=3), False),
    ("prediction", _with(PREDICTION, features=[1, 2]), False),
    ("prediction", _with(PREDICTION, features={"a": [1]}), False),
    ("prediction", _with(PREDICTION, features={"a": {"b": 1}}), False),
    ("prediction", _with(PREDICTION, prediction=None), False),
    ("prediction", _with(PREDICTION, prediction=[1]), False),
    ("prediction", _with(PREDICTION, scores={"1": "high"}), False),
    ("prediction", _with(PREDICTION, scores=[0.1]), False),
    ("feedback", FEEDBACK, True),
    ("feedback", _with(FEEDBACK, label="spam"), True),
    ("feedback", _without(FEEDBACK, "prediction_id"), False),
    ("feedback", _with(FEEDBACK, label=None), False),
    ("feedback", _with(FEEDBACK, label={"a": 1}), False),
    ("feedback", _with(FEEDBACK, model_id=None), False),
]


@pytest.mark.parametrize("name,doc,valid", CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_checks_agree_with_json_schema(name, doc, valid):
    schema_ok = jsonschema.Draft202012Validator(c.schema(name)).is_valid(doc)
    assert schema_ok == valid
    raw = json.dumps(doc).encode()
    if valid:
        c.DECODERS[name](raw)
    else:
        with pytest.raises(InvalidEvent):
            c.DECODERS[name](raw)


@pytest.mark.parametrize("raw,reason", [
    (b"not json", "not JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "expected a JSON object"),
    (b'{"event_id": "e", "model_id": "m", "model_version": "1", "ts": 1, '
     b'"features": {"a": NaN}, "prediction": 1}', "NaN is not a valid JSON number"),
    (b'{"event_id": "e", "model_id": "m", "model_version": "1", "ts": 1, '
     b'"features": {"a": 1}, "prediction": Infinity}', "Infinity is not a valid JSON number"),
    (b'{"event_id": "e", "model_id": "m", "model_version": "1", "ts": 1, '
     b'"features": {"a": 1e999}, "prediction": 1}', "must be finite"),
    (None, "null value"),
])
def test_malformed_messages_say_why(raw, reason):
    with pytest.raises(InvalidEvent, match=reason):
        c.decode_prediction(raw)


def test_size_limit():
    raw = json.dumps(_with(PREDICTION, features={f"f{i}": i for i in range(1000)})).encode()
    assert len(raw) > 5000
    with pytest.raises(InvalidEvent, match="over the limit of 5000"):
        c.decode_prediction(raw, max_bytes=5000)
    assert c.decode_prediction(raw, max_bytes=len(raw)).model_id == "fraud"


def test_events_round_trip_and_validate():
    events = [
        c.decode_prediction(json.dumps(PREDICTION).encode()),
        c.decode_feedback(json.dumps(FEEDBACK).encode()),
        c.Labeled("e1", "fraud", "3", 1, 2, {"a": 1.0}, 1, 0),
        c.Alert("a1", "fraud", "3", "concept_drift", "critical", "adwin", None, 0.31, 0.2, 5, 6, "m"),
        c.RetrainRequest("r1", "fraud", ["a1"], 5, 6, "drift"),
        c.ModelVersion("fraud", "4", "champion", "3", "r1", "file:///x", "0" * 64,
                       {"holdout_accuracy": 0.9}, 7, "better"),
        c.Metrics("fraud", "3", 1, 2, 10, 5, 1, 0, 0.9, 0.8, {"a": {"mean": 1.0}}),
        c.DeadLetter.of("t", 0, 17, "why", b"\x00bytes", 9, key=b"fraud"),
    ]
    for ev in events:
        raw = ev.encode()
        doc = json.loads(raw)
        jsonschema.Draft202012Validator(c.schema(ev.schema)).validate(doc)
        assert c.DECODERS[ev.schema](raw) == ev
        assert ev.key == b"fraud"  # dead letters keep the original key


def test_optional_scores_left_out_and_dead_letter_keeps_bytes():
    p = c.decode_prediction(json.dumps(_without(PREDICTION, "scores")).encode())
    assert "scores" not in json.loads(p.encode())
    dl = c.DeadLetter.of("t", 1, 2, "bad", b"\xff\x00raw", 3, key=None)
    back = c.decode_dead_letter(dl.encode())
    assert back.raw_bytes == b"\xff\x00raw" and back.key is None


def test_topics_take_the_prefix():
    t = c.Topics("acme.")
    assert t.retrain_requests == "acme.retrain-requests"
    assert t.model_versions == "acme.model-versions"
    assert len(set(t.all())) == len(c.TOPIC_SUFFIXES)
    with pytest.raises(AttributeError):
        t.nope


def test_every_event_type_ships_a_schema():
    for name in c.schema_names():
        s = c.schema(name)
        jsonschema.Draft202012Validator.check_schema(s)
        assert s["title"] == name

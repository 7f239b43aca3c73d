"""The optional rollback fields of a retrain request: schema and checks agree, and older readers
see a valid retrain request."""

from __future__ import annotations

import dataclasses
import json

import msgspec

import jsonschema
import pytest

from driftline import contract as c
from driftline.exceptions import InvalidEvent

REQUEST = {"request_id": "r1", "model_id": "fraud", "alert_ids": ["a1"], "since_ts": 5, "ts": 6}
ROLLBACK = {**REQUEST, "action": "rollback", "model_version": "5", "reason": "v5 fell short"}


@pytest.mark.parametrize("doc,valid", [
    (REQUEST, True),
    (ROLLBACK, True),
    ({**REQUEST, "action": "retrain"}, True),
    ({**REQUEST, "action": None, "model_version": None}, True),
    ({**REQUEST, "action": "retrain", "model_version": "3"}, True),
    ({**REQUEST, "action": "rollback"}, False),
    ({**REQUEST, "action": "rollback", "model_version": None}, False),
    ({**ROLLBACK, "model_version": ""}, False),
    ({**ROLLBACK, "model_version": 5}, False),
    ({**REQUEST, "action": "delete"}, False),
    ({**REQUEST, "action": 1}, False),
], ids=lambda v: json.dumps(v) if isinstance(v, dict) else str(v))
def test_checks_agree_with_json_schema(doc, valid):
    assert jsonschema.Draft202012Validator(c.schema("retrain-request")).is_valid(doc) == valid
    raw = json.dumps(doc).encode()
    if valid:
        c.decode_retrain_request(raw)
    else:
        with pytest.raises(InvalidEvent, match="'action'|'model_version'"):
            c.decode_retrain_request(raw)


def test_a_plain_request_is_encoded_as_before_and_a_rollback_round_trips():
    plain = c.RetrainRequest("r1", "fraud", ["a1"], 5, 6, "drift")
    assert json.loads(plain.encode()) == {**REQUEST, "reason": "drift"}
    assert not plain.is_rollback
    rollback = c.RetrainRequest("r2", "fraud", ["a1"], 5, 6, "v5 fell short", action="rollback",
                                model_version="5")
    doc = json.loads(rollback.encode())
    jsonschema.Draft202012Validator(c.schema("retrain-request")).validate(doc)
    back = c.decode_retrain_request(rollback.encode())
    assert back == rollback and back.is_rollback


def test_a_reader_that_predates_the_fields_sees_a_valid_retrain_request():
    class OldRequest(msgspec.Struct):  # the event as contract v1 first shipped it
        request_id: str
        model_id: str
        alert_ids: list
        since_ts: int
        ts: int
        reason: str = ""

    old = msgspec.json.decode(json.dumps(ROLLBACK).encode(), type=OldRequest)
    assert (old.model_id, old.since_ts, old.alert_ids) == ("fraud", 5, ["a1"])

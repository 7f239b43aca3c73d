"""Why a message is not a valid event: the reason a dead letter carries.

The decoders in :mod:`driftline.contract` check events in one fast pass,
whose errors name a JSON path but not always the value at fault. A message
that fails is read again here by plain, slower checks whose only job is a
reason a person can act on ("feature 'amount' must be finite, got inf"). They
run on bad input only, so their cost does not matter; they must never raise
anything but return a reason, whatever the bytes.

>>> import msgspec
>>> why_invalid(b'{"event_id": "e", "model_id": "m", "model_version": "1", "ts": 1, '
...             b'"features": {"a": NaN}, "prediction": 1}', "prediction", None)
'NaN is not a valid JSON number'
>>> why_invalid(b'[' * 100000, "feedback", None)
'not JSON: nested more than 1000 levels deep'
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from driftline import contract as c

_MAX_DEPTH = 1000


class _Reason(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise _Reason(f"{name} is not a valid JSON number")


def why_invalid(raw: bytes, schema: str, exc: BaseException | None) -> str:
    """One line saying why ``raw`` is not a valid ``schema`` event (``exc``: the decoder's error)."""
    try:
        return _why(raw, schema) or _translate(exc)
    except _Reason as reason:
        return str(reason)
    except Exception as other:  # never let an explanation take the worker down
        return _translate(exc) or f"invalid event ({type(other).__name__})"


def _why(raw: bytes, schema: str) -> str | None:
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as err:
        return f"not UTF-8: {err.reason} at byte {err.start}"
    depth = _depth(text)
    if depth > _MAX_DEPTH:
        return f"not JSON: nested more than {_MAX_DEPTH} levels deep"
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        return f"not JSON: {err.msg} at line {err.lineno} column {err.colno}"
    except RecursionError:
        return f"not JSON: nested more than {_MAX_DEPTH} levels deep"
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        digits = re.search(r"value has (\d+) digits", str(err))
        if digits:
            return f"a number of {digits.group(1)} digits, outside the 64-bit and float64 ranges"
        return f"not JSON a reader can use: {err}"
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    check = _CHECKS.get(schema)
    if check is not None:
        check(obj)
    _check_unicode(obj)
    return None


def _depth(text: str) -> int:
    """Deepest nesting of brackets outside strings (counted without parsing)."""
    # Strings are removed first, so brackets inside them do not count.
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    depth = deepest = 0
    for ch in stripped:
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > _MAX_DEPTH:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


_MSGSPEC_MISSING = re.compile(r"Object missing required field `([^`]*)`(?: - at `\$(.*)`)?")
_MSGSPEC_AT = re.compile(r"^(.*) - at `\$\.?(.*)`$")


def _translate(exc: BaseException | None) -> str:
    """The fast decoder's message, in the words the rest of this module uses."""
    if exc is None:
        return "invalid event"
    text = str(exc)
    m = _MSGSPEC_MISSING.fullmatch(text)
    if m:
        return f"missing field {m.group(1)!r}"
    m = _MSGSPEC_AT.match(text)
    if m:
        what, where = m.groups()
        where = where.replace("[...]", "[key]")
        return f"field {where!r}: {what.replace('`', '')}"
    return text.replace("`", "") or type(exc).__name__


# ---------------------------------------------------------------- field checks


def _check_id(obj: Mapping[str, Any], name: str) -> str:
    if name not in obj:
        raise _Reason(f"missing field {name!r}")
    v = obj[name]
    if not isinstance(v, str) or not v:
        raise _Reason(f"field {name!r} must be a non-empty string, got {_show(v)}")
    if len(v) > c.MAX_ID_CHARS:
        raise _Reason(f"field {name!r} is {len(v)} characters long, over the limit of {c.MAX_ID_CHARS}")
    return v


def _check_optional_id(obj: Mapping[str, Any], name: str) -> None:
    if obj.get(name) is not None:
        _check_id(obj, name)


def _check_ts(obj: Mapping[str, Any], name: str = "ts") -> None:
    if name not in obj:
        raise _Reason(f"missing field {name!r}")
    v = obj[name]
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise _Reason(f"field {name!r} must be epoch milliseconds (integer >= 0), got {_show(v)}")
    if v >= c.MAX_TS:
        raise _Reason(f"field {name!r} is {v}, not epoch milliseconds (at most 2**53 - 1)")


def _check_number(what: str, v: Any) -> None:
    if isinstance(v, float) and not math.isfinite(v):
        raise _Reason(f"{what} must be finite, got {v!r}")
    if isinstance(v, int) and not isinstance(v, bool) and not c._INT64[0] <= v <= c._INT64[1]:
        raise _Reason(f"{what} is an integer outside the 64-bit range")


def _check_value(obj: Mapping[str, Any], name: str) -> None:
    """A prediction or a label: a finite number, a string or a bool."""
    if name not in obj:
        raise _Reason(f"missing field {name!r}")
    v = obj[name]
    if isinstance(v, (str, bool)):
        return
    if isinstance(v, (int, float)):
        _check_number(f"field {name!r}", v)
        return
    raise _Reason(f"field {name!r} must be a number, string or bool, got {_show(v)}")


def _check_features(obj: Mapping[str, Any]) -> None:
    if "features" not in obj:
        raise _Reason("missing field 'features'")
    feats = obj["features"]
    if not isinstance(feats, dict):
        raise _Reason(f"field 'features' must be an object, got {_show(feats)}")
    for k, v in feats.items():
        if len(k) > c.MAX_ID_CHARS:
            raise _Reason(f"feature name {k[:40]!r}... is {len(k)} characters long, "
                          f"over the limit of {c.MAX_ID_CHARS}")
        # None marks a missing value, which the monitor counts as data quality.
        if v is None or isinstance(v, (str, bool)):
            continue
        if isinstance(v, (int, float)):
            _check_number(f"feature {k!r}", v)
            continue
        raise _Reason(f"feature {k!r} must be a number, string, bool or null, got {_show(v)}")


def _check_scores(obj: Mapping[str, Any]) -> None:
    scores = obj.get("scores")
    if scores is None:
        return
    if not isinstance(scores, dict):
        raise _Reason(f"field 'scores' must be an object, got {_show(scores)}")
    for k, v in scores.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _Reason(f"score {k!r} must be a finite number, got {_show(v)}")
        _check_number(f"score {k!r}", v)


def _prediction(obj: Mapping[str, Any]) -> None:
    for name in ("event_id", "model_id", "model_version"):
        _check_id(obj, name)
    _check_ts(obj)
    _check_features(obj)
    _check_value(obj, "prediction")
    _check_scores(obj)


def _feedback(obj: Mapping[str, Any]) -> None:
    for name in ("event_id", "prediction_id", "model_id"):
        _check_id(obj, name)
    _check_ts(obj)
    _check_value(obj, "label")


def _labeled(obj: Mapping[str, Any]) -> None:
    for name in ("event_id", "model_id", "model_version"):
        _check_id(obj, name)
    _check_ts(obj)
    _check_ts(obj, "label_ts")
    _check_features(obj)
    _check_value(obj, "prediction")
    _check_value(obj, "label")


def _retrain_request(obj: Mapping[str, Any]) -> None:
    _check_id(obj, "request_id")
    _check_id(obj, "model_id")
    _check_ts(obj, "since_ts")
    if not isinstance(obj.get("alert_ids"), list):
        raise _Reason("field 'alert_ids' must be a list of strings")
    action = obj.get("action")
    if action is not None and action not in c.RETRAIN_ACTIONS:
        raise _Reason(f"field 'action' must be one of {c.RETRAIN_ACTIONS}, got {_show(action)}")
    _check_optional_id(obj, "model_version")


def _enum(obj: Mapping[str, Any], name: str, allowed: tuple[str, ...], required: bool = True) -> None:
    if name not in obj and not required:
        return
    if obj.get(name) not in allowed:
        raise _Reason(f"field {name!r} must be one of {allowed}, got {_show(obj.get(name))}")


def _alert(obj: Mapping[str, Any]) -> None:
    _enum(obj, "kind", c.ALERT_KINDS)
    _enum(obj, "severity", c.SEVERITIES)
    _enum(obj, "status", c.ALERT_STATUSES, required=False)


def _model_version(obj: Mapping[str, Any]) -> None:
    _check_id(obj, "model_id")
    _check_id(obj, "version")
    _enum(obj, "status", c.VERSION_STATUSES)


_CHECKS = {"prediction": _prediction, "feedback": _feedback, "labeled": _labeled,
           "retrain-request": _retrain_request, "alert": _alert, "model-version": _model_version}


def _check_unicode(obj: Any, depth: int = 0) -> None:
    """Strings that cannot be written back as UTF-8 (lone UTF-16 surrogates such as "\\ud800")."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            raise _Reason(f"string {obj[:40]!r} holds a lone UTF-16 surrogate, which is not Unicode text") from None
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check_unicode(k, depth + 1)
            _check_unicode(v, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            _check_unicode(v, depth + 1)


def _show(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a bool"
    try:
        text = json.dumps(v, default=str)
    except (ValueError, TypeError, RecursionError):
        text = "..."
    return f"{type(v).__name__} {text[:40]}"

"""labeled_frame: Labeled events into the training frame."""

from __future__ import annotations

from driftline.contract import Labeled
from driftline.retrainer.data.frame import feature_columns, labeled_frame


def event(event_id: str, ts: int, features: dict, label: object) -> Labeled:
    return Labeled(event_id, "m", "1", ts, ts + 1, features, label, label)


def test_rows_in_time_order_one_per_event_id() -> None:
    df = labeled_frame([
        event("b", 20, {"n": 2, "s": "x", "flag": True}, "yes"),
        event("a", 10, {"n": None}, "no"),
        event("b", 20, {"n": 99}, "no"),  # redelivered: the first copy stands
    ])
    assert df["event_id"].tolist() == ["a", "b"]
    assert df["ts"].tolist() == [10, 20]
    assert df["label"].tolist() == ["no", "yes"]
    assert feature_columns(df) == ["flag", "n", "s"]
    assert df[["flag", "n", "s"]].values.tolist() == [[None, None, None], [True, 2, "x"]]
    assert type(df.loc[1, "n"]) is int  # no float coercion of ints


def test_reserved_names_are_not_features() -> None:
    df = labeled_frame([event("a", 10, {"label": "leak", "ts": 0, "x": 1.0}, 1)])
    assert df.loc[0, "label"] == 1 and df.loc[0, "ts"] == 10
    assert feature_columns(df) == ["x"]


def test_no_events() -> None:
    df = labeled_frame([])
    assert list(df.columns) == ["event_id", "ts", "label"] and len(df) == 0

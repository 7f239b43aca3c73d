"""The per-class error benchmark's harness on a tiny run: its rows, and its arms at one budget.

The figures themselves are what ``python benchmarks/class_errors.py`` is for.
"""

from __future__ import annotations

import json

import pytest

from benchmarks import class_errors


def test_the_arms_split_one_budget() -> None:
    (whole, none), (half, classes) = class_errors.arms().values()
    assert none is None and half == classes and whole == pytest.approx(half + classes)


def test_json_rows_cover_every_drift_arm_and_stream(capsys) -> None:
    assert class_errors.main(["--json", "--seeds", "1", "--events", "100000"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    delays = [r for r in rows if r["table"] == "sea_delay"]
    alarms = [r for r in rows if r["table"] == "false_alarms"]
    assert {(r["drift"], r["arm"]) for r in delays} == {
        (d, a) for d in (1, 2, 3) for a in class_errors.arms()}
    assert all(0 < r["median_labels"] <= class_errors.AFTER and r["draws"] == 1 for r in delays)
    assert {(r["stream"], r["arm"]) for r in alarms} == {
        (s, a) for s in class_errors.MIXES for a in class_errors.arms()}
    assert all(r["labels"] == 100_000 and r["per_million"] == r["alarms"] * 10 for r in alarms)


def test_bad_arguments_get_a_one_line_message(capsys) -> None:
    with pytest.raises(SystemExit):
        class_errors.main(["--events", "10"])
    assert "--events at least 100000" in capsys.readouterr().err

"""The loop benchmark's harness on a tiny run: row shapes, and drifts where the streams say.

These check the machinery, not the figures: the figures are what
``python benchmarks/loop.py`` is for.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmarks import loop
from benchmarks.loop_streams import synthetic

# river's STAGGER concepts, on its integer codes: size (0 small), color (0 red, 2 green), shape (0 circle).
STAGGER_RULES = [
    lambda x: int(x["size"] == 0 and x["color"] == 0),
    lambda x: int(x["color"] == 2 or x["shape"] == 0),
    lambda x: int(x["size"] in (1, 2)),
]


def agreement(events: list, rule, lo: int, hi: int) -> float:
    return float(np.mean([rule(x) == y for x, y in events[lo:hi]]))


def test_abrupt_drifts_are_where_the_stream_says() -> None:
    stream = synthetic("stagger", "abrupt", n=3000, drifts_at=(1000, 2000), seed=3)
    events = list(stream.events())
    for k, (lo, hi) in enumerate([(0, 1000), (1000, 2000), (2000, 3000)]):
        assert agreement(events, STAGGER_RULES[k], lo, hi) == 1.0
        assert agreement(events, STAGGER_RULES[(k + 1) % 3], lo, hi) < 0.9
    assert events == list(stream.events())  # the same seed gives the same stream


def test_gradual_drifts_cross_over_at_their_centre() -> None:
    stream = synthetic("stagger", "gradual", n=4000, drifts_at=(2000,), width=1000, seed=3)
    events = list(stream.events())
    old, new = STAGGER_RULES[0], STAGGER_RULES[1]
    # Far from the centre almost every event is of one concept (the sigmoid's tails are thin).
    assert agreement(events, old, 0, 1000) > 0.99 and agreement(events, new, 3000, 4000) > 0.99
    # Around the centre both concepts are drawn: neither rule explains everything.
    assert agreement(events, old, 1800, 2200) < 1.0 and agreement(events, new, 1800, 2200) < 1.0


def test_unknown_streams_are_named() -> None:
    with pytest.raises(ValueError, match="unknown stream 'sine'"):
        synthetic("sine", "abrupt", n=10, drifts_at=())


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    stream = synthetic("agrawal", "abrupt", n=3000, drifts_at=(1500,), seed=2)
    return loop.run_stream(stream, loop.bench_settings(min_train_examples=300), period=1000, delay=100)


def test_one_row_per_contender_with_every_column(rows: list[dict]) -> None:
    assert [r["contender"] for r in rows] == ["static", "periodic", "driftline", "arf", "hat", "oracle"]
    for r in rows:
        assert set(r) == {"stream", "seed", "contender", "events", "drifts", "accuracy", "after_drift",
                          "after_each_drift", "retrains", "delay", "drifts_answered", "seconds",
                          "found_at", "lost_before_alert"}
        assert r["stream"] == "agrawal-abrupt" and r["events"] == 3000 and r["drifts"] == [1500]
        assert 0.0 <= r["accuracy"] <= 1.0 and len(r["after_each_drift"]) == 1
        json.dumps(r)  # --json prints these as they are


def test_only_driftline_says_when_it_found_each_drift(rows: list[dict]) -> None:
    by = {r["contender"]: r for r in rows}
    [found] = by["driftline"]["found_at"]
    assert found is not None and 1500 <= found < 3000
    assert by["driftline"]["lost_before_alert"] is not None
    assert all(r["found_at"] is None for r in rows if r["contender"] != "driftline")


class _Alert:
    def __init__(self, kind: str, ts: int) -> None:
        self.kind, self.ts = kind, ts


def test_a_drift_is_found_by_the_first_alert_of_a_retraining_kind_after_it_begins() -> None:
    stream = synthetic("sea", "gradual", n=6000, drifts_at=(2000, 4000), width=1000)
    alerts = [_Alert("concept_drift", 1400), _Alert("data_drift", 1600), _Alert("performance", 1700),
              _Alert("concept_drift", 2100)]
    # The first drift begins at 1500 (its centre less half its width), the second at 3500.
    assert loop.found_at(stream, alerts, ("concept_drift", "performance")) == [1700, None]
    assert loop.found_at(stream, alerts, ("concept_drift",)) == [2100, None]
    assert loop.found_at(stream, [_Alert("performance", 3400)], ("performance",), ms_per_event=2) == [1700, None]


def test_what_is_lost_before_the_alert_counts_from_each_drift_to_its_alert_or_the_next() -> None:
    stream = synthetic("sea", "abrupt", n=100, drifts_at=(20, 60))
    oracle = np.ones(100, dtype=bool)
    driftline = np.ones(100, dtype=bool)
    driftline[20:30] = False  # wrong until found at 30
    driftline[30:40] = False  # wrong after it too: not lost *before* the alert
    driftline[60:100:2] = False  # the second drift is never found: 20 wrong to the end
    assert loop.lost_before_alert(stream, [30, None], oracle, driftline) == pytest.approx((10 + 20) / 100)
    # Where driftline does better than the oracle before the alert, that counts against the loss.
    assert loop.lost_before_alert(stream, [30, None], driftline, oracle) == pytest.approx(-0.3)


def test_the_loop_closes_on_the_tiny_run(rows: list[dict]) -> None:
    by = {r["contender"]: r for r in rows}
    assert by["static"]["retrains"] == 0 and by["arf"]["retrains"] is None
    # The oracle waits for 300 post-drift labels, 100 events late: its model serves 400 events after.
    assert by["oracle"]["retrains"] == 1 and by["oracle"]["delay"] == 400
    # driftline found the drift and its retrained champion serves before the stream ends.
    assert by["driftline"]["drifts_answered"] == 1 and by["driftline"]["retrains"] >= 1
    assert by["driftline"]["after_drift"] > by["static"]["after_drift"]
    assert not math.isnan(by["periodic"]["accuracy"])


def test_json_lines(capsys: pytest.CaptureFixture) -> None:
    loop.main(["--quick", "--json", "--events", "1200", "--min-train", "200", "--delay", "50"])
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    contenders = [r for r in rows if "over_seeds" not in r]
    assert len(contenders) == 12  # two streams, six contenders
    assert {r["stream"] for r in contenders} == {"agrawal-abrupt", "sea-gradual"}
    # Then the gap closed per synthetic stream, over the seeds played (one with --quick).
    summary = [r for r in rows if "over_seeds" in r]
    assert [r["stream"] for r in summary] == ["agrawal-abrupt", "sea-gradual"]
    assert all(r["seeds"] == 1 and r["drifts"] == 2 and r["drifts_played"] == 2 for r in summary)
    for r in summary:
        [ours] = [x for x in contenders if x["stream"] == r["stream"] and x["contender"] == "driftline"]
        assert r["found"] == sum(at is not None for at in ours["found_at"])


def test_further_seeds_play_the_batch_contenders_and_pool_the_gap(capsys: pytest.CaptureFixture) -> None:
    loop.main(["--quick", "--json", "--events", "900", "--min-train", "150", "--delay", "50",
               "--seeds", "2"])
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    second = [r for r in rows if r.get("seed") == 2]
    assert {r["contender"] for r in second} == {"static", "periodic", "driftline", "oracle"}
    summary = {r["stream"]: r for r in rows if "over_seeds" in r}
    for name, r in summary.items():
        by = {(x["seed"], x["contender"]): x["accuracy"] for x in rows if x["stream"] == name and "over_seeds" not in x}
        gains = [by[(k, "driftline")] - by[(k, "static")] for k in (1, 2)]
        gaps = [by[(k, "oracle")] - by[(k, "static")] for k in (1, 2)]
        assert r["seeds"] == 2
        if sum(gaps) > 0:
            assert r["closed"] == pytest.approx(sum(gains) / sum(gaps), abs=1e-4)


def test_seeds_must_be_positive(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        loop.main(["--quick", "--seeds", "0"])
    assert "--seeds must be at least 1, got 0" in capsys.readouterr().err

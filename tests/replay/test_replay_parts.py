"""The pure parts of ``driftline replay``: its bounds, the order it replays in, the batches, the report."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from driftline.cli import main
from driftline.consumers.monitor import MonitorConfig
from driftline.contract import Feedback, Prediction
from driftline.replay.bounds import Bound, parse_bound
from driftline.replay.command import ReplayOptions, detector_names
from driftline.replay.merge import merge_by_event_time
from driftline.replay.report import Marker, Series, line_chart, render
from driftline.replay.running import ReplayRun
from driftline.settings import Settings


@pytest.mark.parametrize("text,bound", [
    ("0", Bound(offset=0)),
    ("12000", Bound(offset=12000)),
    ("@1796659200000", Bound(time_ms=1796659200000)),
    ("2026-12-07T16:00:00Z", Bound(time_ms=1796659200000)),
    ("2026-12-07T16:00:00", Bound(time_ms=1796659200000)),  # no zone: UTC
    ("2026-12-07T18:00:00+02:00", Bound(time_ms=1796659200000)),
    ("2026-12-07T16:00:00.250Z", Bound(time_ms=1796659200250)),
    (" 7 ", Bound(offset=7)),
])
def test_bounds_are_offsets_or_times(text, bound):
    assert parse_bound(text) == bound


@pytest.mark.parametrize("text", ["-3", "@", "@12x", "yesterday", "2026-13-01", "1.5", ""])
def test_bad_bounds_are_refused(text):
    with pytest.raises(ValueError, match="expected an offset"):
        parse_bound(text)


@pytest.mark.parametrize("argv,wanted", [
    (["replay", "m", "--out", "d", "--from", "soon"], "expected an offset (N), epoch milliseconds (@MS)"),
    (["replay", "m", "--out", "d", "--rate", "0.5"], "expected a false-alarm rate between 1e-12 and 0.01"),
    (["replay", "m", "--out", "d", "--rate", "x"], "expected a false-alarm rate"),
    (["replay", "m", "--out", "d", "--window", "0"], "expected a number >= 1, got 0"),
    (["replay", "m", "--out", "d", "--detectors", "ks,nope"], "unknown detector 'nope'"),
    (["replay", "m", "--out", "d", "--reference", "latest"], "invalid choice: 'latest'"),
    (["replay", "m"], "the following arguments are required: --out"),
])
def test_bad_replay_arguments_are_one_line(argv, wanted, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert wanted in err and err.count("\n") == 1 and "Traceback" not in err


def test_offsets_out_of_order_are_one_line(capsys):
    assert main(["replay", "m", "--out", "d", "--from", "50", "--to", "40"]) == 2
    assert capsys.readouterr().err == "driftline replay: error: --to offset 40 is not after --from offset 50\n"


def test_replay_help_says_what_a_bound_is(capsys):
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "ISO-8601" in out and "@MS" in out and "epoch milliseconds" in out and "offset N" in out


def test_detector_names_are_the_monitors():
    names = detector_names()
    for name in ("ks", "psi", "cusum", "mmd", "chi2", "prior", "adwin", "adwin_class", "accuracy",
                 "quality", "rollback"):
        assert name in names


def test_options_change_only_what_they_name():
    settings = Settings.from_env({"DRIFTLINE_FALSE_ALARM_RATE": "1e-5", "DRIFTLINE_REFERENCE_SIZE": "800"})
    live = ReplayOptions("m", "out").config(settings)
    assert (live.false_alarm_rate, live.reference_size, live.window) == (1e-5, 800, MonitorConfig().window)
    tuned = ReplayOptions("m", "out", false_alarm_rate=1e-8, window=300).config(settings)
    assert (tuned.false_alarm_rate, tuned.reference_size, tuned.window) == (1e-8, 800, 300)
    assert tuned.metrics_every == 1  # a point per batch for the charts


def _p(i: int, ts: int) -> Prediction:
    return Prediction(f"p{i}", "m", "1", ts, {"x": float(i)}, i % 2)


def _f(i: int, ts: int) -> Feedback:
    return Feedback(f"f{i}", f"p{i}", "m", ts, i % 2)


def test_merge_interleaves_by_event_time_and_keeps_each_stream_in_order():
    preds = [(_p(i, ts), 0) for i, ts in enumerate([10, 20, 20, 15, 40])]
    labels = [(_f(i, ts), 0) for i, ts in enumerate([20, 25, 41])]
    order = [ev.event_id for ev, _ in merge_by_event_time(iter(preds), iter(labels))]
    # A prediction first at the same time; p3 (15) stays after p2, where the topic had it.
    assert order == ["p0", "p1", "p2", "p3", "f0", "f1", "p4", "f2"]
    assert [i for i in order if i[0] == "p"] == [f"p{i}" for i in range(5)]


def test_merge_is_lazy():
    def endless():
        i = 0
        while True:
            yield _p(i, i), 0
            i += 1

    merged = merge_by_event_time(endless(), iter([(_f(0, 2), 0)]))
    assert [next(merged)[0].event_id for _ in range(4)] == ["p0", "p1", "p2", "f0"]


def _stream(n: int, shift_at: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = float(rng.normal() + (3.0 if i >= shift_at else 0.0))
        out.append((Prediction(f"p{i}", "m", "1", 1000 + i, {"x": x, "y": float(rng.normal())}, int(x > 0)),
                    5000 + i))
    return out


def test_batches_find_the_same_episodes():
    """The batch size does not change which drifts are found. Which detector an episode's alert
    names, and its event, can move within a batch (the policy picks one detection per episode
    and batch), so batches that split the stream alike agree exactly."""
    events = _stream(4000, 2500)
    config = MonitorConfig(metrics_every=1)
    one = ReplayRun("m", config, batch_size=1).run(events)
    small = ReplayRun("m", config, batch_size=100).run(events)
    large = ReplayRun("m", config, batch_size=1000).run(events)
    assert small.alerts, "a shift of 3 sd must be found"
    assert [(a.kind, a.detector, a.feature, a.event_ts) for a in small.alerts] == \
        [(a.kind, a.detector, a.feature, a.event_ts) for a in one.alerts]
    assert {(a.kind, a.feature) for a in small.alerts} == {(a.kind, a.feature) for a in large.alerts}
    for a in large.alerts:  # in the batch where the small batches found it
        b = next(s for s in small.alerts if (s.kind, s.feature) == (a.kind, a.feature))
        assert (a.event_ts - 1000) // 1000 == (b.event_ts - 1000) // 1000
    first = min(a.event_ts for a in small.alerts)
    assert first >= 1000 + 2500
    # Placed in the stream: the first prediction at the alert's event time.
    assert small.place(first) == (first - 1000, first - 1000)
    assert small.place(10**9) == (None, None)
    assert len(small.points) == 40 and len(large.points) == 4
    assert small.points[-1].n_predictions == 4000
    # Each batch runs at the newest Kafka timestamp among its records.
    assert {a.ts for a in large.alerts} <= {5000 + k * 1000 + 999 for k in range(4)}


def test_report_is_self_contained_with_charts(tmp_path):
    events = _stream(3000, 2000)
    result = ReplayRun("m", MonitorConfig(metrics_every=1), batch_size=200).run(events)
    rows = [{"event_index": result.place(a.event_ts)[0], "prediction_index": result.place(a.event_ts)[1],
             "event_ts": a.event_ts, "ts": a.ts, "version": a.model_version, "kind": a.kind,
             "severity": a.severity, "detector": a.detector, "feature": a.feature, "value": a.value,
             "threshold": a.threshold, "status": a.status, "message": a.message} for a in result.alerts]
    summary = {"model_id": "m", "span": {"from": "a", "to": "b"},
               "events": {"replayed": result.n_events, "predictions": result.n_predictions, "feedback": 0},
               "config": {"false_alarm_rate": 1e-6, "window": 500, "reference": "warm-up",
                          "reference_size": 1000, "detectors": None},
               "versions": [{"event_index": 0, "event_ts": 1000, "version": "1"}],
               "alerts": rows, "live_alerts": rows[:1], "first_alert": rows[0], "first_live_alert": rows[0]}
    page = render(summary, result.points)
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "<link" not in page
    assert json.dumps(summary, indent=1).replace('"', "&quot;")[:40] in page
    titles = re.findall(r'font-weight="bold">([^<]*)', page)
    charts = page.count("<svg")
    assert titles[0] == "accuracy and label coverage" and charts == len(titles) >= 4
    first = rows[0]
    readings = [t for t in titles[1:] if t != "drift statistics and thresholds at each alert"]
    assert readings[0] == f"{first['detector']} on {first['feature']}"  # what alerted leads
    firing = [r for r in rows if r["status"] == "firing"]
    assert page.count('class="replay"') == charts * len(firing) and page.count('class="live"') == charts
    # A monitor without per-batch readings: the figures each alert carried instead.
    for p in result.points:
        p.drift = []
    bare = render(summary, result.points)
    assert "no per-batch drift statistics" in bare and bare.count("<svg") == 2


def test_drift_statistics_are_charted_when_reported():
    from driftline.replay.report import drift_charts
    from driftline.replay.running import Point

    points = [Point(i * 100, i, "1", 0.9, 1.0, i * 60, i * 40,
                    [{"detector": "ks", "feature": "x", "statistic": 0.01 * i, "threshold": 0.2},
                     {"detector": "mmd", "feature": None, "statistic": 0.02 * i, "threshold": 0.3}])
              for i in range(1, 30)]
    charts = drift_charts(points, None, 3000, [Marker(1500, "replay", "ks x")])
    assert len(charts) == 2 and "ks on x" in charts[0] and ">mmd<" in charts[1]
    assert all(c.count("<polyline") == 2 for c in charts)
    assert len(drift_charts(points, {"mmd"}, 3000, [])) == 1


def test_a_line_breaks_where_figures_are_missing():
    svg = line_chart("acc", [Series("a", [0, 1, 2, 3, 4], [0.5, 0.6, None, 0.7, 0.8], "#000")], 4)
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 4

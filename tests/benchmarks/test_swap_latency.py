"""The swap-latency benchmark's pure parts on synthetic records: stage extraction, the drifting
stream, the stop rule and the periodic baseline.

The figures themselves come from ``python benchmarks/swap_latency.py`` on a real broker.
"""

from __future__ import annotations

import threading
import types

import numpy as np
import pytest

from benchmarks.swap_latency import DriftWhenServing, StopAfterSwap, demo_figures
from benchmarks.swap_stages import (
    STAGES, Recorded, periodic_delay, periodic_rows, spread, stage_rows, stages,
)
from driftline.contract import Alert, Metrics, ModelVersion, RetrainRequest
from driftline.producers.report import SimReport

T0 = 1_700_000_000_000  # event time of event 0, epoch ms


def alert(alert_id: str, event_index: int, kind: str = "concept_drift") -> Alert:
    return Alert(alert_id, "m", "1", kind, "critical", "adwin", None, 1.0, 0.5,
                 event_ts=T0 + event_index, ts=0, message="")


def request(request_id: str, alert_ids: list[str]) -> RetrainRequest:
    return RetrainRequest(request_id, "m", alert_ids, since_ts=0, ts=0)


def version(v: str, status: str, request_id: str, train_s: float = 1.5) -> ModelVersion:
    return ModelVersion("m", v, status, None, request_id, "file:x", "ab",
                        {"train_seconds": train_s, "n_train": 700}, ts=0)


def recorded(served: list[str], right: list[int], *, drift_at: int, lag_ms: int = 0,
             alerts=(), requests=(), versions=(), created_at=None, run_started=None,
             feedback_delay_ms: int = 0) -> Recorded:
    """One event per ms of event time; the service falls ``lag_ms`` behind in wall time from the drift on."""
    n = len(served)
    event_ts = T0 + np.arange(n)
    wall = event_ts + np.where(np.arange(n) >= drift_at, lag_ms, 0)
    return Recorded(drift_at=drift_at, event_ts=event_ts, wall_ms=wall, alerts=list(alerts),
                    requests=list(requests), versions=list(versions),
                    created_at=created_at or {}, run_started=run_started or {},
                    report=SimReport.from_lists(served, right), feedback_delay_ms=feedback_delay_ms)


def first_version_then_drift(n: int = 6000, live: int = 1000, drift: int = 3000, swap: int = 4500):
    served = ["0"] * live + ["1"] * (swap - live) + ["2"] * (n - swap)
    right = [0] * live + [1] * (drift - live) + [0] * (swap - drift) + [1] * (n - swap)
    return served, right


def closed_loop(**kw) -> Recorded:
    served, right = first_version_then_drift()
    w = T0  # wall clock == event time before the drift
    return recorded(
        served, right, drift_at=3000,
        alerts=[(w + 3300, alert("a1", 3100))],
        requests=[(w + 800, request("r1", [])), (w + 3350, request("r2", ["a1"]))],
        versions=[(w + 950, version("1", "champion", "r1")), (w + 4400, version("2", "champion", "r2"))],
        created_at={"1": w + 940, "2": w + 4390}, run_started={"r1": w + 810, "r2": w + 3400},
        **kw)


def test_the_stages_follow_the_records_and_add_up_to_the_total():
    row = stages(closed_loop())
    assert row["outcome"] == "swapped"
    assert (row["v1_live_at"], row["detect_at"], row["swap_at"], row["version"]) == (1000, 3100, 4500, "2")
    assert row["detect_events"] == 100
    expected_s = {"drift_alert": 0.3, "alert_request": 0.05, "request_registered": 1.04,
                  "registered_published": 0.01, "published_serving": 0.1}
    assert {s: row[f"{s}_s"] for s in STAGES} == expected_s
    # A boundary's event position is the number of predictions published by then.
    assert [row[f"{s}_events"] for s in STAGES] == [301, 50, 1040, 10, 99]
    assert sum(row[f"{s}_events"] for s in STAGES) == row["total_events"] == 1500
    assert sum(row[f"{s}_s"] for s in STAGES) == pytest.approx(row["total_s"]) == 1.5
    assert (row["pickup_s"], row["train_s"], row["rejected"]) == (0.05, 1.5, 0)
    assert (row["acc_before"], row["acc_drifted"], row["acc_after"]) == (1.0, 0.0, 1.0)
    assert (row["v1_request_s"], row["v1_registered_s"], row["v1_published_s"], row["v1_serving_s"]) \
        == (0.8, 0.94, 0.95, 1.0)


def test_seconds_and_events_part_when_the_service_falls_behind():
    row = stages(closed_loop(lag_ms=500))  # from the drift on, every prediction goes out 0.5 s late
    # The drift's own prediction is published 0.5 s late, so the alert comes 0.5 s sooner after it;
    # in events the service had published less by each boundary.
    assert row["drift_alert_s"] == pytest.approx(-0.2)
    assert row["total_events"] == 1500 and row["total_s"] == 1.5
    assert row["drift_alert_events"] == 0


def test_monitor_lag_counts_from_the_label_of_the_detecting_event():
    row = stages(closed_loop(feedback_delay_ms=150))
    # Event 3100's label is due at event time 3250 and published with event 3250; the alert at 3300.
    assert (row["monitor_lag_events"], row["monitor_lag_s"]) == (51, 0.05)


def test_a_rejected_retrain_stays_inside_request_to_registered():
    served, right = first_version_then_drift(swap=5000)
    served = [{"2": "3"}.get(v, v) for v in served]  # v2 is the rejected one
    rec = recorded(
        served, right, drift_at=3000,
        alerts=[(T0 + 3300, alert("a1", 3100)), (T0 + 3900, alert("a2", 3800))],
        requests=[(T0 + 800, request("r1", [])), (T0 + 3350, request("r2", ["a1"])),
                  (T0 + 3950, request("r3", ["a2"]))],
        versions=[(T0 + 950, version("1", "champion", "r1")), (T0 + 3700, version("2", "rejected", "r2")),
                  (T0 + 4900, version("3", "champion", "r3"))],
        created_at={"1": T0 + 940, "2": T0 + 3690, "3": T0 + 4890})
    row = stages(rec)
    assert (row["version"], row["rejected"], row["detect_at"]) == ("3", 1, 3100)
    assert row["alert_request_s"] == 0.05  # the first request after the first alert
    assert row["request_registered_s"] == pytest.approx(4.89 - 3.35)
    assert row["total_events"] == 2000
    assert row["pickup_s"] is None  # no run recorded for r3


def test_a_request_appended_just_before_its_alert_is_still_the_request():
    rec = closed_loop()
    requests = [(T0 + 800, request("r1", [])), (T0 + 3298, request("r2", ["a1"]))]
    row = stages(Recorded(**{**vars(rec), "requests": requests}))
    assert row["alert_request_s"] == -0.002
    assert sum(row[f"{s}_s"] for s in STAGES) == pytest.approx(row["total_s"])


def test_alerts_before_the_drift_are_false_alarms_not_detections():
    rec = closed_loop()
    early = [(T0 + 2000, alert("a0", 1900)), (T0 + 2100, alert("d0", 2050, kind="data_drift"))]
    rec = Recorded(**{**vars(rec), "alerts": early + list(rec.alerts)})
    row = stages(rec)
    assert (row["false_alerts"], row["detect_at"]) == (1, 3100)


def test_a_data_drift_alert_alone_is_not_a_detection():
    rec = closed_loop()
    rec = Recorded(**{**vars(rec), "alerts": [(T0 + 3300, alert("a1", 3100, kind="data_drift"))]})
    assert stages(rec)["outcome"] == "no alert after the drift"


@pytest.mark.parametrize("change, outcome", [
    (dict(drift_at=7000), "the run ended before the drift"),
    (dict(served=["0"] * 6000), "no version served before the drift"),
    (dict(requests=[]), "no retrain request after the alert"),
    (dict(served=["0"] * 1000 + ["1"] * 5000), "no new version served after the drift"),
    (dict(created_at={"1": T0}), "version 2 is not in the registry"),
])
def test_what_is_missing_is_the_outcome(change, outcome):
    rec = closed_loop()
    fields = {**vars(rec), **change}
    if "served" in fields:
        fields["report"] = SimReport.from_lists(fields.pop("served"), rec.report.correct.tolist())
    row = stages(Recorded(**fields))
    assert row["outcome"] == outcome
    assert "total_s" not in row


def test_a_version_published_before_the_drift_is_not_the_new_champion():
    served, right = first_version_then_drift()
    rec = closed_loop()
    # v2 announced before the drift, even though the service only started serving it after.
    versions = [(T0 + 950, version("1", "champion", "r1")), (T0 + 2990, version("2", "champion", "r2"))]
    assert stages(Recorded(**{**vars(rec), "versions": versions}))["outcome"] \
        == "no new version served after the drift"


def test_the_demo_summary_sees_the_same_swap():
    rec = closed_loop()
    figures = demo_figures(rec)
    row = stages(rec)
    assert figures == {"demo_alert_events": row["detect_events"], "demo_live_events": row["total_events"]}


def test_the_stream_drifts_margin_events_after_the_first_model_serves():
    serving = {"now": False}
    stream = DriftWhenServing(iter(range(100)), iter(range(1000, 1100)), lambda: serving["now"], margin=5)
    got = [next(stream) for _ in range(10)]
    serving["now"] = True
    got += [next(stream) for _ in range(10)]
    assert (stream.live_at, stream.drift_at) == (10, 15)
    assert got == list(range(15)) + list(range(1000, 1005))
    serving["now"] = False  # the drift stays where it was
    assert next(stream) == 1005 and stream.drift_at == 15


def test_the_service_stops_after_events_past_the_swap():
    stream = types.SimpleNamespace(drift_at=None)
    stop = threading.Event()
    watch = StopAfterSwap(stream, after=1000, stop=stop)
    progress = lambda events, v: watch(types.SimpleNamespace(events=events, version=v))  # noqa: E731
    progress(500, "0")
    progress(1000, "1")
    stream.drift_at = 1200
    progress(1500, "1")
    progress(2000, "1")
    progress(2500, "2")
    progress(3000, "2")
    assert watch.swapped_at == 2500 and not stop.is_set()
    progress(3500, "2")
    assert stop.is_set()


def test_periodic_baseline_is_half_the_period_plus_the_measured_pipeline():
    p = periodic_delay(60_000, 1000.0, train_s=3.0, ship_s=0.25)
    assert (p["wait_events"], p["pipeline_events"]) == (30_000, 3250)
    assert (p["total_events"], p["total_s"]) == (33_250, 33.25)
    assert periodic_delay(10, 500.0, 0.0, 0.0)["total_s"] == 0.01
    with pytest.raises(ValueError, match="period must be >= 1"):
        periodic_delay(0, 1000.0, 1.0, 1.0)


def test_spread_ignores_missing_values():
    assert spread([4.0, None, 1.0, 2.0, 3.0]) == {"median": 2.5, "min": 1.0, "max": 4.0, "n": 4}


def test_summary_rows_take_the_runs_that_swapped_only():
    runs = [stages(closed_loop()), stages(closed_loop(lag_ms=500)), {"outcome": "no alert after the drift"}]
    by = {(r["stage"], r["unit"]): r for r in stage_rows(runs)}
    assert by[("total", "events")] == {"kind": "stage", "stage": "total", "unit": "events",
                                       "median": 1500.0, "min": 1500, "max": 1500, "n": 2}
    assert (by[("drift_alert", "s")]["min"], by[("drift_alert", "s")]["max"]) == (pytest.approx(-0.2), 0.3)
    assert by[("train_s", "")]["median"] == 1.5
    (p,) = periodic_rows(runs, [10_000], 1000.0)
    # ship: registered -> published 0.01 s + published -> serving 0.1 s (the lagged run: 0.6 s).
    assert (p["train_s"], p["ship_s"]) == (1.5, pytest.approx(0.36))
    assert p["total_events"] == pytest.approx(5000 + 1860)
    assert periodic_rows(runs[2:], [10_000], 1000.0) == []


def snapshot(event_index: int) -> Metrics:
    return Metrics("m", "1", ts=0, event_ts=T0 + event_index, n_predictions=0, n_labeled=0,
                   n_expired=0, n_invalid=0, accuracy=None, label_coverage=None, features={})


def test_how_far_behind_the_monitor_was_comes_from_its_snapshots():
    rec = closed_loop()
    # At wall T0+2000 the monitor had seen up to event 1800; at 4000, 3000; at 5000, 4900.
    metrics = [(T0 + 4000, snapshot(3000)), (T0 + 2000, snapshot(1800)), (T0 + 5000, snapshot(4900))]
    row = stages(Recorded(**{**vars(rec), "metrics": metrics}))
    assert (row["monitor_behind_at_drift"], row["monitor_behind_max"], row["monitor_behind_end"]) \
        == (201, 1001, 101)
    assert stages(rec)["monitor_behind_max"] is None

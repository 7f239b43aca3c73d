"""Stages of one hot swap, read off what a run recorded. No Kafka, no clocks here.

A run of ``benchmarks/swap_latency.py`` leaves behind, for one model on fresh
topics: every prediction in publication order with its event time and its
Kafka record timestamp, the alerts, retrain requests and model versions with
their record timestamps, the registry's versions (``created_at``) and retrain
runs (``started_at``), and the simulator's report (which version served each
event, and whether it was right). :func:`stages` turns that into the path
from the first drifted event to the first prediction by the new champion:

    drift -> alert published -> retrain request -> version registered
          -> version published -> first prediction by the new version

Each boundary is a wall-clock instant (a record timestamp, or the registry's
``created_at``) and an event position: how many predictions the service had
published by then. So the stages add up to the total both in seconds and in
events. The alert also names the event its detection rests on (its
``event_ts``), which is the detection delay proper.

>>> import numpy as np
>>> from driftline.contract import Alert, Metrics, ModelVersion, RetrainRequest
>>> from driftline.producers.report import SimReport
>>> n, drift = 100, 50
>>> wall = 1_000 + 10 * np.arange(n)  # one prediction every 10 ms of wall time
>>> served = ["1"] * 80 + ["2"] * 20
>>> right = [1] * 50 + [0] * 30 + [1] * 20
>>> alert = Alert("a1", "m", "1", "concept_drift", "critical", "adwin", None, 1.0, 0.5,
...               event_ts=55, ts=0, message="")
>>> request = RetrainRequest("r1", "m", ["a1"], since_ts=55, ts=0)
>>> v2 = ModelVersion("m", "2", "champion", "1", "r1", "file:x", "ab",
...                   {"train_seconds": 0.1}, ts=0)
>>> rec = Recorded(drift_at=drift, event_ts=np.arange(n), wall_ms=wall,
...                alerts=[(1_645, alert)], requests=[(1_650, request)],
...                versions=[(1_780, v2)], created_at={"2": 1_770},
...                run_started={"r1": 1_660},
...                report=SimReport.from_lists(served, right))
>>> row = stages(rec)
>>> row["outcome"], row["detect_at"], row["swap_at"]
('swapped', 55, 80)
>>> row["total_events"], row["total_s"]
(30, 0.3)
>>> [row[f"{s}_events"] for s in STAGES]
[15, 1, 12, 1, 1]
>>> row["acc_before"], row["acc_drifted"], row["acc_after"]
(1.0, 0.0, 1.0)
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from driftline.contract import Alert, Metrics, ModelVersion, RetrainRequest
from driftline.producers.report import SimReport

DRIFT_KINDS = ("concept_drift", "performance")
# Stage name -> what it spans; the order is the path from drift to serving.
STAGES: dict[str, str] = {
    "drift_alert": "first drifted event -> first concept/performance alert published",
    "alert_request": "alert published -> retrain request published",
    "request_registered": "request published -> new version registered",
    "registered_published": "registered -> version published on model-versions",
    "published_serving": "published -> first prediction by the new version",
}
# Events before the drift over which the old version's accuracy is taken.
BEFORE_WINDOW = 5000


@dataclasses.dataclass(frozen=True)
class Recorded:
    """What one run recorded about one model.

    Attributes
    ----------
    drift_at
        Index of the first event of the new concept.
    event_ts, wall_ms
        For each prediction in publication order: its event time and its Kafka
        record timestamp (epoch ms), one array each.
    alerts, requests, versions
        ``(record timestamp, event)`` as read from the topics.
    created_at
        Registry ``created_at`` (epoch ms) by version.
    run_started
        Registry ``started_at`` of the retrain run (epoch ms) by request id.
    report
        The simulator's report of the same predictions.
    feedback_delay_ms
        Event time between a prediction and its label.
    metrics
        The monitor's snapshots, ``(record timestamp, event)``: its ``event_ts`` is the
        newest event time the monitor had seen, so they show how far behind it was.
    """

    drift_at: int
    event_ts: np.ndarray
    wall_ms: np.ndarray
    alerts: Sequence[tuple[int, Alert]]
    requests: Sequence[tuple[int, RetrainRequest]]
    versions: Sequence[tuple[int, ModelVersion]]
    created_at: dict[str, int]
    run_started: dict[str, int]
    report: SimReport
    feedback_delay_ms: int = 0
    metrics: Sequence[tuple[int, Metrics]] = ()

    def position(self, wall: int) -> int:
        """Predictions published at or before wall-clock ``wall`` (the event being served next)."""
        return int(np.searchsorted(self.wall_ms, wall, side="right"))

    def index_of_event_ts(self, ts: int) -> int:
        """Index of the first prediction whose event time is ``ts`` or later."""
        return int(np.searchsorted(self.event_ts, ts, side="left"))


def _seconds(a: int, b: int) -> float:
    return round((b - a) / 1000.0, 3)


def _acc(report: SimReport, start: int, end: int | None) -> float | None:
    value = report.accuracy(start, end)
    return None if np.isnan(value) else round(value, 4)


def stages(rec: Recorded) -> dict[str, Any]:
    """The row of one run: each stage in events and seconds, or an ``outcome`` saying what is missing.

    The new champion is the first version that starts serving after the
    drift and was published after the first drifted event was; the alert is
    the first concept or performance alert resting on an event at or after
    the drift; the request is the first one citing an alert that rests on an
    event at or after the drift. A request rejected by the gate and followed by another
    is counted in ``rejected`` and its time stays inside
    ``request_registered``.
    """
    n, d = rec.report.n_events, rec.drift_at
    row: dict[str, Any] = {"outcome": None, "events": n, "drift_at": d}
    changes = rec.report.version_changes()
    # Version "0" is the client's fallback answer before any model exists.
    served = ([(0, rec.report.version_at(0))] if n else []) + changes
    first = next(((i, v) for i, v in served if v != "0"), None)
    row["v1_live_at"] = first[0] if first else None
    row["false_alerts"] = sum(1 for _, a in rec.alerts if a.kind in DRIFT_KINDS
                              and rec.index_of_event_ts(a.event_ts) < d)
    row.update(_first_version(rec, first))
    row.update(_monitor_behind(rec))
    if n <= d:
        return {**row, "outcome": "the run ended before the drift"}
    if first is None or first[0] >= d:
        return {**row, "outcome": "no version served before the drift"}
    drift_wall = int(rec.wall_ms[d])
    start_before = max(first[0], d - BEFORE_WINDOW)
    row["acc_before"] = _acc(rec.report, start_before, d)

    published = {v.version: wall for wall, v in rec.versions if v.status == "champion"}
    swap = next(((i, v) for i, v in changes
                 if i > d and published.get(v, -1) >= drift_wall), None)
    row["acc_drifted"] = _acc(rec.report, d, swap[0] if swap else None)
    alert = next(((w, a) for w, a in sorted(rec.alerts, key=lambda x: x[0])
                  if a.kind in DRIFT_KINDS and rec.index_of_event_ts(a.event_ts) >= d), None)
    if alert is None:
        return {**row, "outcome": "no alert after the drift"}
    alert_wall, a = alert
    row.update(detect_at=rec.index_of_event_ts(a.event_ts), alert_kind=a.kind,
               alert_detector=a.detector)
    row["detect_events"] = row["detect_at"] - d
    # The label the detection rests on goes out when the service's event time reaches
    # its due time; from then on, the time to the alert is the monitor's (and its lag).
    labelled = rec.index_of_event_ts(int(rec.event_ts[row["detect_at"]]) + rec.feedback_delay_ms)
    if labelled < n:
        row["monitor_lag_events"] = rec.position(alert_wall) - labelled
        row["monitor_lag_s"] = _seconds(int(rec.wall_ms[labelled]), alert_wall)
    # The monitor sends an alert and the request citing it from one batch, to two topics:
    # the broker may append the request first, so it is found by what it cites, not by time.
    after_drift = {x.alert_id for _, x in rec.alerts if rec.index_of_event_ts(x.event_ts) >= d}
    request = next(((w, r) for w, r in sorted(rec.requests, key=lambda x: x[0])
                    if after_drift.intersection(r.alert_ids)), None)
    if request is None:
        return {**row, "outcome": "no retrain request after the alert"}
    if swap is None:
        return {**row, "outcome": "no new version served after the drift"}
    swap_at, version = swap
    row["swap_at"] = swap_at
    row["acc_after"] = _acc(rec.report, swap_at, None)
    announced = next(v for _, v in rec.versions if v.version == version and v.status == "champion")
    registered = rec.created_at.get(version)
    if registered is None:
        return {**row, "outcome": f"version {version} is not in the registry"}
    request_wall = request[0]
    row["rejected"] = sum(1 for w, v in rec.versions if v.status == "rejected"
                          and request_wall <= w <= published[version])
    metrics = announced.metrics or {}
    row.update(version=version, train_s=metrics.get("train_seconds"),
               n_examples=metrics.get("n_examples"), n_train=metrics.get("n_train"),
               holdout_accuracy=metrics.get("holdout_accuracy"))
    started = rec.run_started.get(announced.request_id or "")
    row["pickup_s"] = _seconds(request_wall, started) if started is not None else None

    bounds = [drift_wall, alert_wall, request_wall, registered, published[version],
              int(rec.wall_ms[swap_at])]
    positions = [d] + [rec.position(w) for w in bounds[1:-1]] + [swap_at]
    for k, name in enumerate(STAGES):
        row[f"{name}_s"] = _seconds(bounds[k], bounds[k + 1])
        row[f"{name}_events"] = positions[k + 1] - positions[k]
    row["total_s"] = _seconds(bounds[0], bounds[-1])
    row["total_events"] = swap_at - d
    return {**row, "outcome": "swapped"}


def _first_version(rec: Recorded, first: tuple[int, str] | None) -> dict[str, float | None]:
    """Seconds from the first prediction to the first version's request, registration,
    publication and first prediction: what the run waited for before its drift."""
    out: dict[str, float | None] = dict.fromkeys(
        ("v1_request_s", "v1_registered_s", "v1_published_s", "v1_serving_s"))
    if not rec.report.n_events:
        return out
    t0 = int(rec.wall_ms[0])
    request = next((w for w, r in sorted(rec.requests, key=lambda x: x[0]) if not r.alert_ids), None)
    if request is not None:
        out["v1_request_s"] = _seconds(t0, request)
    if first is not None:
        version = first[1]
        if version in rec.created_at:
            out["v1_registered_s"] = _seconds(t0, rec.created_at[version])
        published = next((w for w, v in rec.versions if v.version == version), None)
        if published is not None:
            out["v1_published_s"] = _seconds(t0, published)
        out["v1_serving_s"] = _seconds(t0, int(rec.wall_ms[first[0]]))
    return out


def _monitor_behind(rec: Recorded) -> dict[str, int | None]:
    """Events the service had published that the monitor had not seen yet: at the last
    snapshot before the drift, at most over the run, and at its last snapshot."""
    lags = [(w, rec.position(w) - rec.index_of_event_ts(m.event_ts))
            for w, m in sorted(rec.metrics, key=lambda x: x[0])]
    drift_wall = int(rec.wall_ms[rec.drift_at]) if rec.drift_at < len(rec.wall_ms) else None
    before = [lag for w, lag in lags if drift_wall is None or w <= drift_wall]
    return {"monitor_behind_at_drift": before[-1] if before else None,
            "monitor_behind_max": max((lag for _, lag in lags), default=None),
            "monitor_behind_end": lags[-1][1] if lags else None}


def spread(values: Iterable[float | None]) -> dict[str, float | None]:
    """Median, min, max and count of the values that are not None.

    >>> spread([3, None, 1, 2])
    {'median': 2, 'min': 1, 'max': 3, 'n': 3}
    >>> spread([None])
    {'median': None, 'min': None, 'max': None, 'n': 0}
    """
    xs = [v for v in values if v is not None]
    if not xs:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def periodic_delay(period: int, rate: float, train_s: float, ship_s: float) -> dict[str, float]:
    """Expected events from a drift to the first model of a fixed-schedule retrain.

    A drift falls at a uniformly random point of the schedule, so the next
    retrain starts ``period / 2`` events later on average; it then trains for
    ``train_s`` seconds and takes ``ship_s`` more to register, publish and be
    served, during which the service keeps going at ``rate`` events per
    second. This is a lower bound: it assumes the first retrain after the
    drift already learns the new concept, although most of its window
    predates the drift.

    >>> p = periodic_delay(10_000, 1000.0, train_s=2.0, ship_s=0.5)
    >>> p["wait_events"], p["pipeline_events"], p["total_events"], p["total_s"]
    (5000.0, 2500.0, 7500.0, 7.5)
    """
    if period < 1 or not rate > 0:
        raise ValueError(f"period must be >= 1 and rate > 0, got {period!r} and {rate!r}")
    wait = period / 2
    pipeline = (train_s + ship_s) * rate
    return {"period": period, "wait_events": wait, "pipeline_events": pipeline,
            "total_events": wait + pipeline, "total_s": round((wait + pipeline) / rate, 3)}


def stage_rows(runs: list[dict]) -> list[dict]:
    """Median, min and max of every stage and figure over the runs that swapped."""
    ok = [r for r in runs if r["outcome"] == "swapped"]
    out = []
    for name in [*STAGES, "total"]:
        for unit in ("s", "events"):
            out.append({"kind": "stage", "stage": name, "unit": unit,
                        **spread(r[f"{name}_{unit}"] for r in ok)})
    for name in ("detect_events", "monitor_lag_s", "monitor_lag_events", "pickup_s", "train_s",
                 "n_examples", "acc_before", "acc_drifted", "acc_after",
                 "monitor_behind_at_drift", "monitor_behind_max"):
        out.append({"kind": "stage", "stage": name, "unit": "", **spread(r.get(name) for r in ok)})
    return out


def periodic_rows(runs: list[dict], periods: list[int], rate: float) -> list[dict]:
    """The periodic baseline for each period, from the median measured training and shipping time."""
    ok = [r for r in runs if r["outcome"] == "swapped"]
    train = spread(r["train_s"] for r in ok)["median"]
    ship = spread(r["registered_published_s"] + r["published_serving_s"] for r in ok)["median"]
    if train is None or ship is None:
        return []
    return [{"kind": "baseline", "baseline": "periodic", "train_s": train, "ship_s": ship,
             **periodic_delay(k, rate, train, ship)} for k in periods]

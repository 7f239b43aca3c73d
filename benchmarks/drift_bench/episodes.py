"""Alerts per drift: how often the monitor pages for one drift that lasts.

The monitor itself (``ModelMonitor``, in process: the suite and the alert
policy) reads a classifier's predictions and labels: six numeric features, a
prediction of ``x0 + x1 > 0``, a label for four predictions of five. After
``onset`` events, one of these persists for ``after`` events:

- ``mean +1 sd``: x0 moves by one standard deviation (the prediction's class
  shares with it);
- ``concept``: the label of a third of the space flips (inputs unchanged);
- ``mean +1 sd, back``: as the first, for ``after // 4`` events, then back to
  the reference (each episode should resolve once);
- ``stationary``: nothing (the control: no alert expected).

Each firing alert is counted by its ``(kind, feature)``, the key of an
episode: one drift should be one alert per affected key, plus at most one
escalation (warning to critical) of the same episode. The baseline of the
same run is the suite's raw detections on the same events (what paging on
every detection would send).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, defaultdict

import numpy as np

from driftline.consumers.monitor import ModelMonitor, MonitorConfig
from driftline.contract import Feedback, Prediction
from driftline.detectors.policy import AlertPolicy

SCENARIOS = ("mean +1 sd", "concept", "mean +1 sd, back", "stationary")
FEATURES = [f"x{j}" for j in range(6)]
BATCH = 500


@dataclasses.dataclass
class EpisodeRun:
    scenario: str
    seed: int
    events: int
    firing: dict[tuple[str, str | None], int]  # firing alerts after the onset, by (kind, feature)
    episodes: dict[tuple[str, str | None], int]  # distinct episodes among them
    resolved: dict[tuple[str, str | None], int]  # resolved alerts, by (kind, feature)
    before_onset: int  # firing alerts before the onset (false alarms)
    detections: int  # raw detections of the suite after the onset (the baseline)
    seconds: float

    @property
    def worst(self) -> int:
        """Firing alerts of the most paged key."""
        return max(self.firing.values(), default=0)


def _events(scenario: str, onset: int, after: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    n = onset + after
    X = rng.normal(size=(n, len(FEATURES)))
    if scenario == "mean +1 sd":
        X[onset:, 0] += 1.0
    elif scenario == "mean +1 sd, back":
        X[onset:onset + after // 4, 0] += 1.0
    predicted = (X[:, 0] + X[:, 1] > 0).astype(int)
    label = predicted.copy()
    if scenario == "concept":
        flip = np.zeros(n, dtype=bool)
        flip[onset:] = X[onset:, 2] > 0.43  # about a third of the space
        label[flip] = 1 - label[flip]
    label = np.where(rng.random(n) < 0.05, 1 - label, label)
    labelled = rng.random(n) < 0.8
    out: list = []
    t0 = 1_700_000_000_000
    for i in range(n):
        features = dict(zip(FEATURES, X[i].tolist()))
        out.append(Prediction(event_id=f"p{i}", model_id="m", model_version="1", ts=t0 + i,
                              features=features, prediction=int(predicted[i])))
        if labelled[i]:
            out.append(Feedback(event_id=f"f{i}", prediction_id=f"p{i}", model_id="m", ts=t0 + i,
                                label=int(label[i])))
    return out


def run_one(scenario: str, seed: int, onset: int = 10_000, after: int = 50_000) -> EpisodeRun:
    events = _events(scenario, onset, after, seed)
    monitor = ModelMonitor("m", MonitorConfig(metrics_every=10**9))
    onset_ts = 1_700_000_000_000 + onset
    firing: Counter = Counter()
    resolved: Counter = Counter()
    episodes: dict = defaultdict(set)
    before = 0
    raw = [0]
    observe = AlertPolicy.observe

    def counting(policy, detections, n_seen, checked=()):
        detections = list(detections)
        raw[0] += len(detections)
        return observe(policy, detections, n_seen, checked)

    start = time.process_time()
    AlertPolicy.observe = counting  # the suite's raw detections, as the policy receives them
    try:
        for i in range(0, len(events), BATCH):
            before_batch = raw[0]
            out = monitor.process(events[i:i + BATCH], 0)
            if events[i].ts < onset_ts:
                raw[0] = before_batch
            for a in out.alerts:
                if a.status == "resolved":
                    resolved[(a.kind, a.feature)] += 1
                elif a.event_ts < onset_ts:
                    before += 1
                else:
                    firing[(a.kind, a.feature)] += 1
                    episodes[(a.kind, a.feature)].add(a.episode_id)
    finally:
        AlertPolicy.observe = observe
    return EpisodeRun(scenario, seed, len(events), dict(firing),
                      {k: len(v) for k, v in episodes.items()}, dict(resolved), before, raw[0],
                      time.process_time() - start)


def run_all(seeds: int, base: int = 0, log=None) -> list[EpisodeRun]:
    runs = []
    for scenario in SCENARIOS:
        for seed in range(base, base + seeds):
            runs.append(run_one(scenario, seed))
            if log is not None:
                log(f"episodes: {scenario} seed {seed} done")
    return runs


def rows(runs: list[EpisodeRun]) -> list[dict]:
    """One row per scenario: firing alerts, episodes and resolutions per affected key, pooled over seeds."""
    out = []
    for scenario in SCENARIOS:
        mine = [r for r in runs if r.scenario == scenario]
        keys = sorted({k for r in mine for k in r.firing}, key=repr)
        out.append({
            "kind": "episodes", "scenario": scenario, "streams": len(mine),
            "events": sum(r.events for r in mine),
            "affected_keys": [f"{k}/{f or '-'}" for k, f in keys],
            "alerts_per_key_max": max((r.worst for r in mine), default=0),
            "episodes_per_key_max": max((max(r.episodes.values(), default=0) for r in mine), default=0),
            "resolved": sum(sum(r.resolved.values()) for r in mine),
            "false_alarms_before_onset": sum(r.before_onset for r in mine),
            "raw_detections": sum(r.detections for r in mine),
            "alerts": sum(sum(r.firing.values()) for r in mine),
            "cpu_s": round(sum(r.seconds for r in mine), 1),
        })
    return out


def verdict(rows_: list[dict]) -> dict:
    """At most one episode per affected key and two alerts (opening, escalation), every episode of a
    drift that ended resolved, and none on the stationary control."""
    by = {r["scenario"]: r for r in rows_}
    worst_alerts = max(r["alerts_per_key_max"] for r in rows_)
    worst_episodes = max(r["episodes_per_key_max"] for r in rows_)
    back = by["mean +1 sd, back"]
    lasting = [by["mean +1 sd"], by["concept"]]
    ok = (worst_alerts <= 2 and worst_episodes <= 1 and by["stationary"]["alerts"] == 0
          and back["resolved"] >= len(back["affected_keys"]) and all(r["resolved"] == 0 for r in lasting))
    raw = sum(r["raw_detections"] for r in rows_)
    alerts = sum(r["alerts"] for r in rows_)
    return {"kind": "verdict", "check": "f", "ok": ok, "text": (
        f"alerts per drift: at most {worst_alerts} alerts and {worst_episodes} episode per affected "
        f"(kind, feature) (goal <= 2 and 1: an opening and one escalation); resolved while the drift "
        f"lasted: {sum(r['resolved'] for r in lasting)}, after it ended: {back['resolved']} "
        f"(of {len(back['affected_keys'])} keys); stationary control: {by['stationary']['alerts']} "
        f"alerts; {alerts} alerts in all against {raw:,} raw detections of the suite")}


def table(rows_: list[dict]) -> str:
    head = ("scenario", "streams", "events", "affected (kind/feature)", "alerts/key max",
            "episodes/key max", "resolved", "raw detections", "alerts")
    lines = ["\nalerts per drift: the monitor (suite + alert policy) in process",
             " | ".join(head), " | ".join("---" for _ in head)]
    for r in rows_:
        lines.append(" | ".join(str(v) for v in (
            r["scenario"], r["streams"], f"{r['events']:,}", ", ".join(r["affected_keys"]) or "-",
            r["alerts_per_key_max"], r["episodes_per_key_max"], r["resolved"], f"{r['raw_detections']:,}",
            r["alerts"])))
    return "\n".join(lines)

"""The per-model monitor, driven in process: join, alerts, retrain requests, state."""

from __future__ import annotations

import pickle

import numpy as np

from driftline.consumers.monitor import ModelMonitor, MonitorConfig
from driftline.contract import Feedback, Prediction

CONFIG = MonitorConfig(reference_size=500, window=250, metrics_every=1000,
                       retrain_cooldown_ms=5_000, min_train_examples=300)


def events(n: int, *, start: int = 0, version: str = "1", error_rate=0.1, shift_after=None,
           error_after=None, seed: int = 0, label_every: int = 1):
    """Predictions and, for every ``label_every``-th one, its feedback right after."""
    rng = np.random.default_rng(seed + start)
    out = []
    for i in range(start, start + n):
        x = rng.normal()
        if shift_after is not None and i >= shift_after:
            x += 1.0
        label = int(rng.random() < 0.5)
        p_err = error_rate if error_after is None or i < error_after else 0.5
        pred = label if rng.random() >= p_err else 1 - label
        out.append(Prediction(f"p{i}", "m", version, 1000 + i * 10,
                              {"x": float(x), "c": "a" if rng.random() < 0.5 else "b"}, pred))
        if i % label_every == 0:
            out.append(Feedback(f"f{i}", f"p{i}", "m", 1000 + i * 10 + 5, label))
    return out


def run(monitor: ModelMonitor, evs, batch: int = 200):
    totals = {"labeled": [], "alerts": [], "retrain": [], "metrics": []}
    for k in range(0, len(evs), batch):
        out = monitor.process(evs[k:k + batch], now_ms=k)
        for name in totals:
            totals[name] += getattr(out, name)
    return totals


def test_stationary_stream_raises_nothing():
    m = ModelMonitor("m", {}, CONFIG)
    got = run(m, events(30_000))
    assert got["alerts"] == [] and got["retrain"] == []
    assert len(got["labeled"]) == 30_000
    assert len(got["metrics"]) == 30
    assert abs(got["metrics"][-1].accuracy - 0.9) < 0.03


def test_concept_drift_is_one_alert_and_one_retrain_request():
    m = ModelMonitor("m", {}, CONFIG.__class__(**{**CONFIG.__dict__, "retrain_cooldown_ms": 10**9}))
    got = run(m, events(12_000, error_after=6_000))
    concept = [a for a in got["alerts"] if a.kind in ("concept_drift", "performance")]
    assert concept, got["alerts"]
    by_detector = {}
    for a in concept:
        by_detector.setdefault(a.detector, []).append(a)
    assert all(len(v) == 1 for v in by_detector.values()), by_detector
    first = min(concept, key=lambda a: a.event_ts)
    drift_ts = 1000 + 6_000 * 10
    assert drift_ts <= first.event_ts <= drift_ts + 1_000 * 10
    assert len(got["retrain"]) == 1
    req = got["retrain"][0]
    assert set(req.alert_ids) <= {a.alert_id for a in concept} and req.alert_ids
    assert req.since_ts >= drift_ts


def test_data_drift_alerts_without_asking_for_retraining():
    m = ModelMonitor("m", {}, CONFIG)
    got = run(m, events(8_000, shift_after=4_000))
    data = [a for a in got["alerts"] if a.kind == "data_drift"]
    # One episode: it opens, and may escalate once from warning to critical.
    assert {a.feature for a in data} == {"x"}
    assert [a.severity for a in data] in (["critical"], ["warning", "critical"])
    assert 1000 + 4_000 * 10 <= data[0].event_ts <= 1000 + 4_500 * 10
    assert got["retrain"] == []


def test_first_version_is_requested_once_enough_labels_arrive():
    m = ModelMonitor("m", {}, CONFIG)
    got = run(m, events(700, version="0"))
    assert len(got["retrain"]) == 1
    assert got["retrain"][0].since_ts == 0 and got["retrain"][0].alert_ids == []
    assert got["alerts"] == []  # a fallback answer has no concept to drift from


def test_an_unanswered_request_is_repeated_only_after_the_cooldown():
    m = ModelMonitor("m", {}, CONFIG)
    run(m, events(300, version="0"))
    asked_at = m._retrain_at
    got = run(m, events(2_000, start=300, version="0"))
    repeats = len(got["retrain"])
    # 2,000 events 10 ms apart: 20 s of event time, so four cooldowns of 5 s at most
    assert 3 <= repeats <= 4
    assert m._retrain_at - asked_at >= repeats * CONFIG.retrain_cooldown_ms


def test_new_version_resets_detectors_and_answers_the_request():
    m = ModelMonitor("m", {}, CONFIG)
    run(m, events(9_000, error_after=5_000))
    assert m._retrain_at is not None
    got = run(m, events(8_000, start=9_000, version="2"))
    assert m.version == "2" and m._retrain_at is None
    # Late labels of version 1 do not count against version 2.
    assert [a for a in got["alerts"] if a.kind != "data_drift"] == []


def test_duplicates_are_dropped_by_event_id():
    m = ModelMonitor("m", {}, CONFIG)
    evs = events(500)
    got = run(m, evs + evs[:300])
    assert len(got["labeled"]) == 500
    assert m.counts["duplicates"] == 300 and m.counts["predictions"] == 500


def test_state_survives_pickling_mid_stream():
    evs = events(12_000, error_after=6_000, seed=3)
    pending: dict = {}
    a = ModelMonitor("m", pending, CONFIG)
    run(a, evs[:9_000])
    restored_pending = dict(pending)
    b = pickle.loads(pickle.dumps(a)).attach(restored_pending)
    rest_a, rest_b = run(a, evs[9_000:]), run(b, evs[9_000:])
    for name in ("labeled", "alerts", "retrain"):
        key = (lambda e: (e.event_id,)) if name == "labeled" else \
              (lambda e: (e.kind, e.detector, e.feature, e.event_ts)) if name == "alerts" else \
              (lambda e: (e.since_ts, tuple(e.alert_ids) and len(e.alert_ids)))
        assert [key(e) for e in rest_a[name]] == [key(e) for e in rest_b[name]]


def test_labels_that_never_come_do_not_hold_memory():
    cfg = MonitorConfig(label_ttl_ms=1_000, max_pending=10_000)
    m = ModelMonitor("m", {}, cfg)
    run(m, events(20_000, label_every=10**9))  # only p0 is ever labeled
    assert len(m.join) <= 1_000 // 10 + 1
    assert m.counts["expired"] >= 19_800


def test_missing_and_wrongly_typed_values_raise_a_data_quality_alert():
    m = ModelMonitor("m", {}, CONFIG)
    evs = events(4_000)
    broken = []
    for e in evs:
        k = int(e.event_id[1:])
        if isinstance(e, Prediction) and k > 2_000 and k % 3 == 0:
            features = {"x": "n/a"} if k % 2 else {"c": e.features["c"]}  # wrong type, or absent
            e = Prediction(e.event_id, e.model_id, e.model_version, e.ts, features, e.prediction)
        broken.append(e)
    got = run(m, broken)
    quality = [a for a in got["alerts"] if a.kind == "data_quality"]
    # x is wrong or absent in 1 of 3 events, c absent in 1 of 6: one alert each per episode
    assert sorted(a.feature for a in quality) == ["c", "x"]
    by_feature = {a.feature: a for a in quality}
    assert by_feature["x"].severity == "critical" and by_feature["x"].value > 0.25
    assert 0.1 < by_feature["c"].value < 0.25 and by_feature["c"].threshold == 0.05
    assert got["retrain"] == []
    assert m.counts["type_errors"] > 0

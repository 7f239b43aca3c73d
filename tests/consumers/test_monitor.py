"""The per-model monitor, driven in process: join, alerts, retrain requests, state."""

from __future__ import annotations

import numpy as np

from driftline.consumers.monitor import ModelMonitor, MonitorConfig
from driftline.consumers.state import codec
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


def restart(monitor: ModelMonitor) -> ModelMonitor:
    """The monitor a worker restores from its state record, through the bytes it would write."""
    return ModelMonitor.from_state(codec.loads(codec.dumps(monitor.state_dict())), monitor.config,
                                   monitor.profiles)


def run(monitor: ModelMonitor, evs, batch: int = 200):
    totals = {"labeled": [], "alerts": [], "retrain": [], "metrics": []}
    for k in range(0, len(evs), batch):
        out = monitor.process(evs[k:k + batch], now_ms=k)
        for name in totals:
            totals[name] += getattr(out, name)
    return totals


def test_stationary_stream_raises_nothing():
    m = ModelMonitor("m", CONFIG)
    got = run(m, events(30_000))
    assert got["alerts"] == [] and got["retrain"] == []
    assert len(got["labeled"]) == 30_000
    assert len(got["metrics"]) == 30
    assert abs(got["metrics"][-1].accuracy - 0.9) < 0.03


def test_concept_drift_is_one_alert_and_one_retrain_request():
    m = ModelMonitor("m", CONFIG.__class__(**{**CONFIG.__dict__, "retrain_cooldown_ms": 10**9}))
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
    m = ModelMonitor("m", CONFIG)
    got = run(m, events(8_000, shift_after=4_000))
    data = [a for a in got["alerts"] if a.kind == "data_drift"]
    # One episode: it opens, and may escalate once from warning to critical.
    assert {a.feature for a in data} == {"x"}
    assert [a.severity for a in data] in (["critical"], ["warning", "critical"])
    assert 1000 + 4_000 * 10 <= data[0].event_ts <= 1000 + 4_500 * 10
    assert got["retrain"] == []


def test_first_version_is_requested_once_enough_labels_arrive():
    m = ModelMonitor("m", CONFIG)
    got = run(m, events(700, version="0"))
    assert len(got["retrain"]) == 1
    assert got["retrain"][0].since_ts == 0 and got["retrain"][0].alert_ids == []
    assert got["alerts"] == []  # a fallback answer has no concept to drift from


def test_an_unanswered_request_is_repeated_only_after_the_cooldown():
    m = ModelMonitor("m", CONFIG)
    run(m, events(300, version="0"))
    asked_at = m.scheduler.at
    got = run(m, events(2_000, start=300, version="0"))
    repeats = len(got["retrain"])
    # 2,000 events 10 ms apart: 20 s of event time, so four cooldowns of 5 s at most
    assert 3 <= repeats <= 4
    assert m.scheduler.at - asked_at >= repeats * CONFIG.retrain_cooldown_ms


def test_new_version_resets_detectors_and_answers_the_request():
    m = ModelMonitor("m", CONFIG)
    first = run(m, events(9_000, error_after=5_000))
    assert m.scheduler.at is not None
    got = run(m, events(8_000, start=9_000, version="2"))
    assert m.version == "2" and m.scheduler.at is None
    # Late labels of version 1 do not count against version 2.
    assert [a for a in got["alerts"] if a.kind != "data_drift" and a.status == "firing"] == []
    # Version 1's open episodes end as version 2 takes over, each with its own id.
    opened = {a.episode_id: a for a in first["alerts"] if a.status == "firing"}
    ended = [a for a in got["alerts"] if a.status == "resolved"]
    assert ended and all(a.model_version == "1" and a.episode_id in opened for a in ended)
    assert len({a.episode_id for a in ended}) == len(ended)
    assert all("version 2 now serves" in a.message for a in ended)


def test_duplicates_are_dropped_by_event_id():
    m = ModelMonitor("m", CONFIG)
    evs = events(500)
    got = run(m, evs + evs[:300])
    assert len(got["labeled"]) == 500
    assert m.counts["duplicates"] == 300 and m.counts["predictions"] == 500


def test_state_survives_a_restart_mid_stream():
    evs = events(12_000, error_after=6_000, seed=3)
    a = ModelMonitor("m", CONFIG)
    run(a, evs[:9_001])  # a prediction is left waiting for its label
    assert len(a.join) == 1
    b = restart(a)
    rest_a, rest_b = run(a, evs[9_000:]), run(b, evs[9_000:])
    for name in ("labeled", "alerts", "retrain"):
        key = (lambda e: (e.event_id,)) if name == "labeled" else \
              (lambda e: (e.kind, e.detector, e.feature, e.event_ts)) if name == "alerts" else \
              (lambda e: (e.since_ts, tuple(e.alert_ids) and len(e.alert_ids)))
        assert [key(e) for e in rest_a[name]] == [key(e) for e in rest_b[name]]


def test_labels_that_never_come_do_not_hold_memory():
    cfg = MonitorConfig(label_ttl_ms=1_000, max_pending=10_000)
    m = ModelMonitor("m", cfg)
    run(m, events(20_000, label_every=10**9))  # only p0 is ever labeled
    assert len(m.join) <= 1_000 // 10 + 1
    assert m.counts["expired"] >= 19_800


def test_missing_and_wrongly_typed_values_raise_a_data_quality_alert():
    m = ModelMonitor("m", CONFIG)
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


def profile_of(evs, performance):
    """The profile a retrainer would register: the features and answers of ``evs``."""
    from driftline.detectors.profile import ReferenceProfile
    from driftline.detectors.suite import calibrate

    preds = [e for e in evs if isinstance(e, Prediction)]
    X = np.array([[p.features["x"]] for p in preds])
    C = np.array([[p.features["c"], str(p.prediction)] for p in preds], dtype=object)
    profile = ReferenceProfile(["x"], ["c", "<prediction>"], X, C, performance=performance,
                               source="training window")
    return calibrate(profile, false_alarm_rate=CONFIG.false_alarm_rate,
                     reference_size=CONFIG.reference_size, window=CONFIG.window)


def test_a_registered_profile_is_the_reference_from_the_first_prediction():
    profile = profile_of(events(CONFIG.reference_size, seed=9), {"metric": "accuracy", "value": 0.9,
                                                                 "n": 500})
    shifted = events(3_000, shift_after=0)  # the live inputs never looked like the training data
    with_profile = ModelMonitor("m", CONFIG, profiles=lambda m, v: profile if v == "1" else None)
    got = run(with_profile, shifted)
    drift = [a for a in got["alerts"] if a.kind == "data_drift"]
    assert {a.feature for a in drift} == {"x"}
    assert drift[0].event_ts < 1000 + CONFIG.window * 10  # within the first window
    assert with_profile.reference == "training window"
    # Warming up on the live traffic takes the shifted inputs as normal.
    assert [a for a in run(ModelMonitor("m", CONFIG), shifted)["alerts"]
            if a.kind == "data_drift"] == []


def test_performance_is_measured_against_the_registered_score():
    profile = profile_of(events(CONFIG.reference_size, seed=9), {"metric": "accuracy", "value": 0.95,
                                                                 "n": 2000})
    worse = events(6_000, error_rate=0.25)  # served at 75% from its first prediction on
    m = ModelMonitor("m", CONFIG, profiles=lambda m, v: profile)
    got = run(m, worse)
    perf = [a for a in got["alerts"] if a.kind == "performance"]
    assert perf and perf[0].threshold > 0.85 and perf[0].value < 0.8
    first, *again = got["retrain"]
    assert first.alert_ids == [perf[-1].alert_id]
    # No new version answers (no retrainer here) and the drop goes on: asked again, on the
    # same episode, each time after twice the wait before (5 s, 10 s, 20 s of 60 s).
    assert len(again) == 3 and all(r.alert_ids == first.alert_ids and r.since_ts == first.since_ts
                                   and "asked again" in r.reason for r in again)
    # Measured on its own first window, the same model looks fine.
    assert [a for a in run(ModelMonitor("m", CONFIG), worse)["alerts"]
            if a.kind == "performance"] == []


def test_a_regressor_is_watched_on_the_size_of_its_errors():
    rng = np.random.default_rng(4)
    evs = []
    for i in range(8_000):
        x = float(rng.normal())
        label = 2.0 * x + float(rng.normal())
        noise = 0.3 if i < 4_000 else 1.5  # the model gets worse halfway
        evs.append(Prediction(f"p{i}", "m", "1", 1000 + i * 10, {"x": x},
                              round(2.0 * x + noise * float(rng.normal()), 4) + 0.0001))
        evs.append(Feedback(f"f{i}", f"p{i}", "m", 1000 + i * 10 + 5, label))
    m = ModelMonitor("m", CONFIG)
    got = run(m, evs)
    assert m.regression and m.suite.numeric == ["x", "<prediction>"]
    perf = [a for a in got["alerts"] if a.kind == "performance"]
    assert [a.detector for a in perf[:1]] == ["error"]
    assert 1000 + 4_000 * 10 <= perf[0].event_ts <= 1000 + 5_000 * 10
    assert got["metrics"][-1].accuracy is None  # right or wrong means nothing here


def test_an_unanswered_request_is_repeated_only_while_its_drift_goes_on():
    m = ModelMonitor("m", CONFIG)
    run(m, events(3_000))
    during = run(m, events(3_000, start=3_000, error_rate=0.45))
    assert len(during["retrain"]) >= 1
    # The errors come back down and the episode closes: no more requests for it.
    run(m, events(10_000, start=6_000, error_rate=0.1))
    assert m.policy.open_keys == []
    assert run(m, events(10_000, start=16_000, error_rate=0.1))["retrain"] == []
    # A new version answers what is still asked.
    again = run(m, events(3_000, start=26_000, error_rate=0.45))
    run(m, events(500, start=29_000, version="2"))
    assert m.scheduler.asked is None and m.scheduler.at is None and again["retrain"]

"""The monitor's side of an automatic rollback: which promotions it tests and what it publishes."""

from __future__ import annotations

import dataclasses

import numpy as np

from driftline.consumers.monitor import ModelMonitor
from driftline.contract import Feedback, Prediction
from tests.consumers.test_monitor import CONFIG, events, profile_of, restart, run

ROLLBACK = dataclasses.replace(CONFIG, rollback_window=300, rollback_confidence=0.999,
                               retrain_cooldown_ms=20_000)
PROFILE_1 = profile_of(events(CONFIG.reference_size, seed=9), {"metric": "accuracy", "value": 0.9, "n": 500})
PROFILE_2 = profile_of(events(CONFIG.reference_size, seed=9, version="2"),
                       {"metric": "accuracy", "value": 0.95, "n": 400})


def profiles(model_id, version):
    return {"1": PROFILE_1, "2": PROFILE_2, "3": PROFILE_2}.get(version)


def rollbacks(got):
    return [r for r in got["retrain"] if r.action == "rollback"]


def test_a_promotion_that_falls_short_is_rolled_back_once_with_an_alert_that_says_so():
    m = ModelMonitor("m", ROLLBACK, profiles=profiles)
    got = run(m, events(2_000, version="1", error_rate=0.1))
    assert rollbacks(got) == [] and m.promotions.newest == 1
    # Served at 60%, gated at 95%; over less event time than the cooldown, as the
    # retrainer would have restored v1 by then.
    bad = events(1_500, start=2_000, version="2", error_rate=0.4)
    got = run(m, bad)
    [alert] = [a for a in got["alerts"] if a.detector == "rollback"]
    [request] = got["retrain"]  # and no retrain request of v2's own, whatever its detectors say
    assert (alert.kind, alert.severity, alert.model_version) == ("performance", "critical", "2")
    assert alert.value < alert.threshold < 0.95
    assert alert.message.startswith(f"v2 scored {alert.value:.3f} accuracy")
    assert "on its first 300 labeled events, the gate measured 0.950 on 400" in alert.message
    assert alert.message.endswith(": rolling back to v1")
    # The test rests on exactly the first 300 labeled events of v2.
    assert alert.event_ts == bad[2 * 299].ts
    assert (request.action, request.model_version, request.alert_ids) == ("rollback", "2", [alert.alert_id])
    assert request.since_ts == bad[0].ts  # the promotion: an older retrainer retrains on v2's traffic
    assert request.reason == alert.message
    assert m.promotions.version is None  # decided


def test_the_restored_version_is_not_retested_nor_retrained_at_once():
    m = ModelMonitor("m", ROLLBACK, profiles=profiles)
    run(m, events(2_000, version="1"))
    [rollback] = rollbacks(run(m, events(1_000, start=2_000, version="2", error_rate=0.4)))
    rolled_back_at = m.scheduler.at  # event time
    # v1 is back, and does worse than its gate said (the drift that made v2 is still there).
    got = run(m, events(6_000, start=3_000, version="1", error_rate=0.3))
    assert m.promotions.version is None and rollbacks(got) == []
    performance = [a.alert_id for a in got["alerts"] if a.kind == "performance"]
    assert performance  # v1's own detectors see it at once
    request = got["retrain"][0]  # but it asks for a retrain only once the cooldown has passed
    assert request.action is None and set(request.alert_ids) <= set(performance)
    assert all("asked again" in r.reason for r in got["retrain"][1:])
    assert m.scheduler.at - rolled_back_at >= ROLLBACK.retrain_cooldown_ms


def test_a_promotion_that_keeps_its_promise_stays():
    m = ModelMonitor("m", ROLLBACK, profiles=profiles)
    run(m, events(2_000, version="1"))
    got = run(m, events(3_000, start=2_000, version="2", error_rate=0.05))
    assert rollbacks(got) == [] and [a for a in got["alerts"] if a.detector == "rollback"] == []
    assert m.promotions.version is None  # tested, and done


def test_only_a_newer_version_after_a_served_one_with_a_score_is_tested():
    first = ModelMonitor("m", ROLLBACK, profiles=profiles)
    run(first, events(500, version="0"))
    run(first, events(500, start=500, version="1"))  # the first version: nothing to go back to
    assert first.promotions.version is None
    fresh = ModelMonitor("m", ROLLBACK, profiles=profiles)
    run(fresh, events(500, version="2"))  # a monitor that never saw what came before
    assert fresh.promotions.version is None
    run(fresh, events(500, start=500, version="1"))  # older: restored or pinned by hand
    assert fresh.promotions.version is None
    run(fresh, events(10, start=1_000, version="3"))
    assert fresh.promotions.version == "3"
    no_score = ModelMonitor("m", ROLLBACK, profiles=lambda m, v: PROFILE_1 if v == "1" else None)
    run(no_score, events(500, version="1"))
    run(no_score, events(500, start=500, version="2"))
    assert no_score.promotions.version is None
    off = ModelMonitor("m", dataclasses.replace(ROLLBACK, rollback_window=0), profiles=profiles)
    run(off, events(500, version="1"))
    got = run(off, events(2_000, start=500, version="2", error_rate=0.4))
    assert off.promotions.version is None and rollbacks(got) == []


def test_a_service_flipping_between_versions_keeps_the_test_of_the_new_one():
    m = ModelMonitor("m", ROLLBACK, profiles=profiles)
    run(m, events(1_000, version="1"))
    mixed = []
    for k in range(0, 2_000, 100):  # instances swap at different times
        mixed += events(100, start=1_000 + k, version="2" if k % 200 else "1", error_rate=0.4)
    got = run(m, mixed)
    [request] = rollbacks(got)
    assert request.model_version == "2"


def test_the_test_survives_a_state_snapshot_mid_count():
    m = ModelMonitor("m", ROLLBACK, profiles=profiles)
    run(m, events(1_000, version="1"))
    bad = events(1_000, start=1_000, version="2", error_rate=0.4)
    run(m, bad[:300])
    assert m.promotions.version == "2"
    m = restart(m)
    got = run(m, bad[300:])
    [request] = rollbacks(got)
    assert request.model_version == "2"


def test_a_regressor_is_tested_on_its_error_when_its_score_has_one():
    rng = np.random.default_rng(4)

    def stream(n, start, version, noise):
        out = []
        for i in range(start, start + n):
            x = float(rng.normal())
            label = 2.0 * x
            out.append(Prediction(f"p{i}", "m", version, 1000 + i * 10, {"x": x, "c": "a"},
                                  round(label + noise * float(rng.normal()), 4) + 0.0001))
            out.append(Feedback(f"f{i}", f"p{i}", "m", 1000 + i * 10 + 5, label))
        return out

    from driftline.detectors.profile import ReferenceProfile

    def profile(score):
        X = rng.normal(size=(500, 2))
        return ReferenceProfile(["x", "<prediction>"], ["c"], X, np.full((500, 1), "a", dtype=object),
                                performance=score)

    with_error = profile({"metric": "mae", "value": 0.24, "std": 0.18, "n": 400})  # |N(0, 0.3)|
    without = profile({"metric": "accuracy", "value": None, "n": 400})  # what regressors get today
    for v2, expected in ((with_error, ["2"]), (without, [])):
        m = ModelMonitor("m", ROLLBACK, profiles=lambda m, v: with_error if v == "1" else v2)
        run(m, stream(1_000, 0, "1", 0.3))
        got = run(m, stream(1_000, 1_000, "2", 0.6))
        assert m.regression
        assert [r.model_version for r in rollbacks(got)] == expected

"""DriftSuite: one false-alarm budget for a model's detectors, reference profiles, quality codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.detectors import AccuracyDrop, ErrorIncrease
from driftline.detectors.profile import ReferenceProfile
from driftline.detectors.features.quality import MISSING
from driftline.detectors.suite import HEADROOM, SHARES, DriftSuite, calibrate


def rows(rng, n, shift=0.0):
    X = rng.normal(size=(n, 3))
    X[:, 0] += shift
    C = np.empty((n, 3), dtype=object)
    C[:, 0] = rng.choice(["NL", "DE", "FR"], size=n)
    C[:, 1] = [f"user{k}" for k in rng.integers(0, 10**6, size=n)]  # an open vocabulary
    C[:, 2] = rng.choice(["0", "1"], size=n)
    return X, C


def suite(**kw):
    return DriftSuite(["a", "b", "c"], ["country", "user", "<prediction>"], **kw)


def test_the_budget_is_shared_and_extrapolated_tails_spend_half():
    assert HEADROOM == 0.5
    classifier = {k: v for k, v in SHARES.items() if k not in ("residual", "error")}
    assert sum(classifier.values()) == pytest.approx(1.0)
    assert sum(v for k, v in SHARES.items() if k not in ("prior", "adwin", "adwin_class", "accuracy")) <= 1.0
    s = suite(false_alarm_rate=2e-6)
    members = {d.name: d.false_alarm_rate for d in s.inputs if d.name in SHARES}
    members["accuracy"] = s.performance.false_alarm_rate
    # Extrapolated tails spend half their share; PriorShift's delta is read off measurements.
    assert members == pytest.approx({k: v * (1.0 if k == "prior" else HEADROOM) * 2e-6
                                     for k, v in classifier.items() if k not in ("adwin", "adwin_class")})
    # ADWIN takes a significance level, not a rate: it moves with the target. The whole error
    # stream and the predicted classes' streams (which split its items) get a share each.
    assert s.error_rate.delta == pytest.approx(2 * suite().error_rate.delta) and suite().error_rate.delta == 0.001
    assert s.class_errors.delta == s.error_rate.delta


def test_a_calibrated_profile_is_reused_and_gives_the_same_results():
    rng = np.random.default_rng(0)
    X, C = rows(rng, 1000)
    profile = ReferenceProfile(["a", "b", "c"], ["country", "user", "<prediction>"], X, C,
                               performance={"metric": "accuracy", "value": 0.9, "n": 400})
    calibrated = calibrate(profile)
    assert set(calibrated.calibration) == {"ks", "cusum", "mmd", "chi2"}
    stored = ReferenceProfile.from_dict(json.loads(json.dumps(calibrated.to_dict())))
    live = rows(rng, 3000, shift=0.7)
    fresh, reused = suite(), suite()
    fresh.set_reference(profile)
    reused.set_reference(stored)
    Q = np.zeros((3000, 6), dtype=np.int8)
    a, b = fresh.update_inputs(*live, Q), reused.update_inputs(*live, Q)
    assert a == b and {d.feature for d in a[0]} >= {"a"}
    assert isinstance(reused.performance, AccuracyDrop)
    assert (reused.performance.baseline, reused.performance.baseline_n) == (0.9, 400)


def test_a_calibration_made_for_other_settings_is_made_again():
    rng = np.random.default_rng(1)
    profile = calibrate(ReferenceProfile(["a", "b", "c"], ["country", "user", "<prediction>"],
                                         *rows(rng, 1000)))
    other = suite(false_alarm_rate=1e-5)
    other.set_reference(profile)
    assert other.profile.calibration["ks"] != profile.calibration["ks"]
    assert other.profile.calibration["ks"]["false_alarm_rate"] == pytest.approx(SHARES["ks"] * HEADROOM * 1e-5)


def test_out_of_range_values_and_new_categories_of_a_closed_vocabulary_are_quality_problems():
    rng = np.random.default_rng(2)
    s = suite()
    X, C = rows(rng, 4000)
    X[2000:2000 + 400, 1] = 50.0  # far outside anything the reference held
    C[2500:, 0] = np.where(rng.random(1500) < 0.2, "XX", C[2500:, 0])
    Q = np.zeros((4000, 6), dtype=np.int8)
    Q[rng.random(4000) < 0.01, 2] = MISSING
    found, _ = s.update_inputs(X, C, Q)
    quality = {(d.feature, d.batch_index // 500) for d in found if d.kind == "data_quality"}
    assert ("b", 4) in quality and ("country", 5) in quality
    # New user ids arrive all the time and are no problem; nor is 1% missing.
    assert {f for f, _ in quality} == {"b", "country"}


def test_a_regressor_gets_an_error_test_and_no_error_rate():
    s = DriftSuite(["x", "<prediction>"], ["country"], false_alarm_rate=2e-6)
    assert s.regression and s.error_rate is None and isinstance(s.performance, ErrorIncrease)
    assert [type(d).__name__ for d in s.outcomes] == ["ResidualShift", "ErrorIncrease"]
    # The error stream's share goes to the residuals' CUSUM; a regressor has no prior test.
    assert s.residual_shift.false_alarm_rate == pytest.approx(SHARES["residual"] * HEADROOM * 2e-6)
    assert s.prior is None
    rng = np.random.default_rng(3)
    found, checked = s.update_outcomes(np.r_[rng.normal(size=2000), 2.0 * rng.normal(size=1000)])
    assert {d.detector for d in found} == {"residual", "error"} and checked
    first = min(found, key=lambda d: d.batch_index)
    assert first.kind == "concept_drift" and 2000 <= first.batch_index < 2200


def test_a_classifier_watches_the_share_of_each_predicted_class():
    s = suite(false_alarm_rate=2e-6)
    assert s.prior.false_alarm_rate == pytest.approx(SHARES["prior"] * 2e-6)
    assert s.residual_shift is None
    rng = np.random.default_rng(4)
    X, C = rows(rng, 4000)
    C[2500:, 2] = rng.choice(["0", "1"], p=[0.25, 0.75], size=1500)
    found, checked = s.update_inputs(X, C, np.zeros((4000, 6), dtype=np.int8))
    prior = [d for d in found if d.detector == "prior"]
    assert prior and prior[0].feature == "<prediction>" and prior[0].kind == "data_drift"
    assert 2500 <= prior[0].batch_index < 2800
    assert ("data_drift", "prior", "<prediction>") in checked


def test_the_prior_test_starts_from_the_profiles_answers():
    rng = np.random.default_rng(5)
    X, C = rows(rng, 1000)
    C[:, 2] = rng.choice(["0", "1"], p=[0.2, 0.8], size=1000)
    s = suite()
    s.set_reference(ReferenceProfile(["a", "b", "c"], ["country", "user", "<prediction>"], X, C))
    assert s.prior.classes == {"<prediction>": ["1"]}
    X, C = rows(rng, 500)  # predictions now half and half: no warm-up needed to see it
    found, _ = s.update_inputs(X, C, np.zeros((500, 6), dtype=np.int8))
    assert any(d.detector == "prior" for d in found)


def test_a_suite_saved_without_the_prior_and_residual_tests_goes_on_without_them():
    s = suite()
    state = s.state_dict()
    state["members"]["prior"] = state["members"]["residual_shift"] = None
    old = DriftSuite.from_state(state)
    assert old.prior is None and "PriorShift" not in [type(d).__name__ for d in old.inputs]
    X, C = rows(np.random.default_rng(6), 600)
    old.update_inputs(X, C, np.zeros((600, 6), dtype=np.int8))


def test_a_classifier_finds_errors_that_rise_in_one_predicted_class_first():
    rng = np.random.default_rng(8)
    n, change = 8000, 4000
    predicted = rng.choice(["0", "1"], p=[0.4, 0.6], size=n)
    # After the change a fifth of class "0"'s answers turn wrong: 8 more errors per 100 overall.
    rate = np.where((predicted == "0") & (np.arange(n) >= change), 0.3, 0.1)
    outcomes = (rng.random(n) >= rate).astype(float)
    found = {}
    for with_classes in (True, False):
        s = suite()
        hits = []
        for start in range(0, n, 100):
            block = slice(start, start + 100)
            got, _ = s.update_outcomes(outcomes[block], predicted[block] if with_classes else None)
            hits += [(start + d.batch_index, d) for d in got if d.kind == "concept_drift"]
        found[with_classes] = hits
        assert s.class_errors.n_seen == (n if with_classes else 0)
    first, detection = min(found[True], key=lambda h: h[0])
    assert detection.detector == "adwin_class" and "among predictions of 0" in detection.message
    assert change <= first < change + 1000
    # On the whole stream alone the same rise is found later, if at all.
    assert all(i > first for i, _ in found[False])


def test_predicted_classes_must_match_the_outcomes():
    with pytest.raises(ValueError, match="3 predicted classes for 2 outcomes"):
        suite().update_outcomes(np.array([1.0, 0.0]), ["a", "b", "c"])

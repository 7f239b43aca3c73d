"""MeanShift: detection delay, calibrated false alarms, the reference, missing values, input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

import driftline.detectors.features.cusum as cusum
from driftline.detectors import MeanShift
from driftline.detectors.features._cusum_threshold import gaussian_threshold
from tests.detectors.cases import feed

FEATURES = [f"x{j}" for j in range(10)]


def test_stationary_stream_raises_no_alarm():
    rng = np.random.default_rng(42)
    det = MeanShift(FEATURES)
    assert feed(det, rng.normal(size=(100_000, 10)), batch=1000) == []
    assert det.ready and det.n_seen == 100_000
    assert [k[2] for k in det.checked] == FEATURES


@pytest.mark.parametrize("seed", range(5))
def test_finds_a_one_sd_shift_in_one_of_ten_features_within_tens_of_rows(seed):
    rng = np.random.default_rng(seed)
    det = MeanShift(FEATURES)
    det.set_reference(rng.normal(size=(1000, 10)))
    X = rng.normal(size=(3000, 10))
    start = 1000 + 37 * seed
    X[start:, 3] += 1.0
    found = feed(det, X, batch=250)
    assert {d.feature for _, d in found} == {"x3"}
    assert start <= found[0][0] <= start + 80


def test_self_started_detector_finds_a_shift_after_a_short_warm_up():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 1))
    x[200:] += 3.0
    found = feed(MeanShift(["x"]), x, batch=1)
    assert found and 200 <= found[0][0] <= 210


@pytest.mark.parametrize("draw", [
    lambda rng, n: rng.lognormal(size=n),
    lambda rng, n: rng.standard_t(3, size=n),
    lambda rng, n: rng.poisson(2.0, size=n).astype(float),
], ids=["lognormal", "t3", "poisson"])
def test_false_alarm_rate_is_near_its_target_on_skewed_heavy_tailed_and_discrete_data(draw):
    # A rate high enough to count alarms: 1e-3 per row is 600 in 12 x 50k rows. The
    # target is a mean over references (each one's estimation error counts), so
    # it takes a dozen references to see it. The calibration asks for twice the
    # run length, so about 300 are expected: below the target, yet not far below.
    rng = np.random.default_rng(5)
    alarms = 0
    for seed in range(12):
        det = MeanShift(["x"], false_alarm_rate=1e-3, seed=seed)
        det.set_reference(draw(rng, 1000)[:, None])
        alarms += len(feed(det, draw(rng, 50_000)[:, None], batch=10_000))
    assert 150 <= alarms <= 600, alarms


def test_learning_threshold_matches_simulated_run_length():
    k, h = 0.75, gaussian_threshold(0.75, 3.0, 500.0)
    z = np.clip(np.random.default_rng(0).normal(size=200_000), -3, 3)
    hi = lo = 0.0
    alarms = 0
    for v in z:
        hi, lo = max(0.0, hi + v - k), max(0.0, lo - v - k)
        if hi > h or lo > h:
            alarms, hi, lo = alarms + 1, 0.0, 0.0
    assert 200_000 / alarms == pytest.approx(500, rel=0.15)


def test_recursive_residuals_of_normal_data_are_standard_normal():
    det = MeanShift(["x"], reference_size=2000)
    z = det._learning_z(0, np.random.default_rng(1).normal(5.0, 3.0, size=1999))
    z = z[~np.isnan(z)]
    assert len(z) == 1999 - det.min_reference - 1
    assert abs(z.mean()) < 0.06 and abs(z.std() - 1.0) < 0.05


def test_a_random_walk_is_not_a_change():
    # Prices wander; the one-step residuals of a random walk are iid, so no alarm.
    walk = np.cumsum(np.random.default_rng(2).normal(size=20_000))[:, None]
    assert feed(MeanShift(["price"]), walk, batch=100) == []


def test_calibration_round_trips_through_json_without_recomputation(monkeypatch):
    rng = np.random.default_rng(4)
    ref = np.column_stack([rng.lognormal(size=3000), rng.poisson(3, size=3000)]).astype(float)
    X = np.column_stack([rng.lognormal(size=2000), rng.poisson(3, size=2000)]).astype(float)
    X[1000:, 1] += 2.0
    det = MeanShift(["a", "b"], seed=7)
    det.set_reference(ref)
    text = json.dumps(det.calibration)
    expected = feed(det, X)
    assert expected

    def no_bootstrap(*args, **kwargs):
        raise AssertionError("the calibration was computed again")

    monkeypatch.setattr(cusum, "calibrate_feature", no_bootstrap)
    again = MeanShift(["a", "b"], seed=7)
    again.set_reference(ref, calibration=json.loads(text))
    assert again.calibration == det.calibration
    assert [(i, d) for i, d in feed(again, X)] == expected


def test_calibration_must_fit_the_parameters_and_the_reference():
    rng = np.random.default_rng(4)
    ref = rng.normal(size=(500, 2))
    det = MeanShift(["a", "b"])
    det.set_reference(ref)
    cal = det.calibration
    with pytest.raises(ValueError, match="other parameters"):
        MeanShift(["a", "b"], shift=1.0).set_reference(ref, calibration=cal)
    with pytest.raises(ValueError, match="another reference"):
        MeanShift(["a", "b"]).set_reference(ref + 1.0, calibration=cal)
    with pytest.raises(ValueError, match="calibration dict"):
        MeanShift(["a", "b"]).set_reference(ref, calibration={"features": {}})


def test_a_given_reference_stays_and_a_learned_one_is_learned_again():
    rng = np.random.default_rng(6)
    ref = rng.normal(size=(1000, 1))
    X = rng.normal(size=(4000, 1))
    X[1000:] += 1.5
    given = MeanShift(["x"])
    given.set_reference(ref)
    learned = MeanShift(["x"])
    learned.update(ref)
    hits_given = feed(given, X)
    hits_learned = feed(learned, X)
    assert len(hits_given) > 20  # the stream keeps differing from the training data
    assert 1 <= len(hits_learned) <= 2 and hits_learned[0][0] < 1100  # the new level became normal
    assert learned.calibration["features"]["x"]["location"] == pytest.approx(1.5, abs=0.15)


def test_missing_values_are_skipped_per_feature():
    rng = np.random.default_rng(8)
    v = rng.normal(size=3000)
    v[2000:] += 1.0
    dense = feed(MeanShift(["x"]), v[:, None], batch=1)
    sparse = np.full(6000, np.nan)
    rows = np.sort(rng.choice(6000, 3000, replace=False))
    sparse[rows] = v
    found = feed(MeanShift(["x"]), sparse[:, None], batch=77)
    assert dense
    assert [rows[i] for i, _ in dense] == [i for i, _ in found]
    assert [d.value for _, d in dense] == [d.value for _, d in found]


def test_a_constant_reference_alarms_on_any_other_value():
    det = MeanShift(["flag"])
    det.set_reference(np.zeros((500, 1)))
    det.update(np.zeros((1000, 1)))
    assert not det.drift_detected
    det.update(np.ones((20, 1)))
    assert det.drift_detected and det.detections[0].severity == "critical"


def test_detections_name_the_feature_and_estimate_the_shift():
    rng = np.random.default_rng(9)
    det = MeanShift(["a", "b"])
    det.set_reference(rng.normal(size=(1000, 2)))
    X = rng.normal(size=(300, 2))
    X[100:, 0] -= 3.0
    det.update(X)
    d = det.detections[0]
    assert (d.kind, d.detector, d.feature) == ("data_drift", "cusum", "a")
    assert d.value > d.threshold and d.severity == "critical"
    assert "mean moved by about -" in d.message


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"features": "ab"}, "features must be a list"),
    ({"shift": 0}, "shift must be a positive number"),
    ({"clip": 0.5, "shift": 2.0}, "clip must be larger"),
    ({"min_reference": 3}, "min_reference must be at least 5"),
    ({"reference_size": 10}, "reference_size must be larger"),
    ({"false_alarm_rate": 0.0}, "false_alarm_rate"),
])
def test_bad_arguments_are_one_line_errors(kwargs, match):
    args = {"features": ["a", "b"], **kwargs}
    with pytest.raises(ValueError, match=match) as err:
        MeanShift(**args)
    assert "\n" not in str(err.value)


def test_bad_batches_and_references_are_one_line_errors():
    det = MeanShift(["a", "b"])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        det.update(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="takes numbers"):
        det.update([["x", "y"]])
    with pytest.raises(ValueError, match="needs at least min_reference"):
        det.set_reference(np.c_[np.zeros(100), np.full(100, np.nan)])

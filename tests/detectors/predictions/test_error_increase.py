"""ErrorIncrease: gamma bound, calibrated rate, detection, baselines, missing labels, checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftline.detectors import ErrorIncrease
from driftline.detectors._stats import chi2_sf
from tests.detectors.cases import feed

HALF_NORMAL_MEAN = math.sqrt(2.0 / math.pi)
HALF_NORMAL_STD = math.sqrt(1.0 - 2.0 / math.pi)


@pytest.mark.parametrize("window", [50, 500])
def test_bound_is_exact_for_squared_normal_residuals(window):
    # A mean of `window` chi-squared(1) losses is chi-squared(window) / window.
    det = ErrorIncrease(window=window, baseline=1.0, baseline_std=math.sqrt(2.0), loss="squared")
    for alpha in [1e-2, 5e-4, 5e-6]:
        assert chi2_sf(window * det.upper_bound(alpha), window) == pytest.approx(alpha, rel=1e-6)


def test_false_alarms_of_absolute_normal_residuals_stay_under_alpha():
    # alpha = 1e-4 * 100 = 0.01 per window; the gamma is conservative here.
    rng = np.random.default_rng(0)
    det = ErrorIncrease(window=100, baseline=HALF_NORMAL_MEAN, baseline_std=HALF_NORMAL_STD,
                        false_alarm_rate=1e-4)
    alarms = len(feed(det, rng.normal(size=1_000_000), batch=100_000))
    assert 0.001 * 10_000 < alarms <= 0.01 * 10_000


def test_a_measured_baseline_keeps_the_rate_over_baselines_within_a_fifth():
    # 3000 detectors, each with the baseline of its own first window: the
    # spread's estimate is noisy too, which the gamma does not model, so the
    # rate is about 1.2 alpha (1.13 to 1.2 in 20000 simulated baselines).
    rng = np.random.default_rng(1)
    alarms = 0
    for _ in range(3000):
        det = ErrorIncrease(window=100, false_alarm_rate=1e-4)
        det.update(rng.normal(size=600))
        alarms += len(det.detections)
    assert 0.5 * 150 < alarms <= 1.5 * 150


def test_a_rise_of_the_error_is_found_in_the_next_window():
    for seed in range(5):
        rng = np.random.default_rng(seed)
        start = 2000 + 37 * seed
        found = feed(ErrorIncrease(), np.r_[rng.normal(size=start), 1.5 * rng.normal(size=1500)])
        found = [(i, d) for i, d in found if i >= start]
        assert found
        at, d = found[0]
        assert start <= at <= start + 1000
        assert d.value > d.threshold > d.value / 1.5


def test_given_baseline_with_n_widens_the_bound():
    exact = ErrorIncrease(baseline=1.0, baseline_std=0.8)
    measured = ErrorIncrease(baseline=1.0, baseline_std=0.8, baseline_n=300)
    assert exact.reference_error == measured.reference_error == 1.0
    assert 1.0 < exact.upper_bound(1e-3) < measured.upper_bound(1e-3)


def test_baseline_is_measured_on_the_first_window_and_forgotten_on_reset():
    det = ErrorIncrease(window=4, loss="squared")
    det.update([1.0, -1.0, np.nan, 2.0])
    assert det.reference_error is None and det.checked == []
    det.update([0.0])
    assert det.reference_error == pytest.approx(1.5)  # (1 + 1 + 4 + 0) / 4
    det.update([1.0, 1.0, 1.0, 1.0])
    assert det.checked == [("performance", "error", None)] and not det.drift_detected
    det.reset()
    assert det.reference_error is None and det.n_seen == 0


def test_unknown_labels_are_skipped():
    det = ErrorIncrease(window=500, baseline=1.0, baseline_std=0.5)
    r = np.full(2000, np.nan)
    r[1::2] = 3.0
    r[-1] = np.nan
    det.update(r)
    (d,) = det.detections
    assert d.batch_index == 999 and d.value == 3.0 and d.severity == "critical"
    assert "mean absolute error 3 over the last 500" in d.message


def test_perfect_baseline_fires_on_any_error():
    det = ErrorIncrease(window=10, baseline=0.0, baseline_std=0.0)
    det.update(np.zeros(10))
    assert not det.drift_detected
    det.update(np.r_[np.zeros(9), 0.1])
    assert det.drift_detected


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"window": 0}, "window"),
    ({"baseline": 1.0}, "together"),
    ({"baseline_std": 1.0}, "together"),
    ({"baseline": -1.0, "baseline_std": 1.0}, "baseline must be"),
    ({"baseline": 1.0, "baseline_std": math.inf}, "baseline_std must be"),
    ({"baseline_n": 10}, "needs a baseline"),
    ({"baseline": 1.0, "baseline_std": 1.0, "baseline_n": 0}, "baseline_n"),
    ({"loss": "huber"}, "loss"),
    ({"false_alarm_rate": 0.01}, "false_alarm_rate"),
])
def test_bad_parameters_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ErrorIncrease(**kwargs)


@pytest.mark.parametrize(("bad", "match"), [
    (np.ones((3, 2)), "1-D"),
    (np.array([1.0, np.inf]), "finite .* at position 1"),
    (["a"], "numbers"),
])
def test_bad_input_is_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        ErrorIncrease().update(bad)

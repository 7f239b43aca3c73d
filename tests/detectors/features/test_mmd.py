"""MultivariateDrift: joint changes (alone and as the suite runs it), calibrated thresholds, stored
calibration, normal scores, missing values, checks."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import driftline.detectors.features.mmd as mmd
from driftline.detectors import MultivariateDrift, NumericDrift
from driftline.detectors._stats import chi2_sf
from driftline.detectors.features.mmd import normal_scores, quadratic_form_isf, quadratic_form_sf
from driftline.detectors.suite import HEADROOM, SHARES, DriftSuite
from tests.detectors.cases import feed

FEATURES = [f"x{j}" for j in range(10)]


def correlated(rng, n, rho, d=10):
    X = rng.normal(size=(n, d))
    X[:, 1] = rho * X[:, 0] + np.sqrt(1.0 - rho ** 2) * X[:, 1]
    return X


def mixed(rng, n, rho):
    """Ten features of the shapes production data has: normal, skewed, heavy-tailed, counts, a
    rounded amount; the first two normal ones correlated ``rho``."""
    X = correlated(rng, n, rho, d=4)
    return np.column_stack([X, rng.lognormal(0.0, 0.75, n), rng.exponential(size=n),
                            rng.standard_t(2, n), np.round(rng.lognormal(3.0, 1.5, n), 2),
                            rng.poisson(3.0, n), rng.binomial(5, 0.3, n)])


def suite_member(features):
    """MultivariateDrift as the monitor's suite runs it, with the suite's defaults."""
    det = DriftSuite(features, []).multivariate
    assert (det.reference_size, det.window) == (1000, 500)
    assert det.false_alarm_rate == pytest.approx(SHARES["mmd"] * HEADROOM * 1e-6)
    return det


@pytest.mark.parametrize("df", [1, 4, 30])
def test_saddlepoint_tail_matches_chi_squared(df):
    for x in [df + 3.0 * np.sqrt(2 * df), df + 6.0 * np.sqrt(2 * df), 4.0 * df + 20]:
        exact = chi2_sf(x, df)
        # Lugannani-Rice is worst for one degree of freedom (about 6% high there).
        assert quadratic_form_sf(x, np.ones(df)) == pytest.approx(exact, rel=0.08)


def test_saddlepoint_quantile_of_unequal_weights_holds_its_level():
    rng = np.random.default_rng(3)
    w = rng.exponential(size=20) ** 3
    sims = rng.chisquare(1, size=(400_000, 20)) @ w
    for p in [0.05, 1e-3, 1e-4]:
        assert np.mean(sims > quadratic_form_isf(p, w)) == pytest.approx(p, rel=0.25)
    assert quadratic_form_isf(1e-3, np.zeros(5)) == 0.0


def test_correlation_flip_that_no_single_feature_shows_is_found():
    for seed in range(3):
        rng = np.random.default_rng(seed)
        start = 3000 + 97 * seed
        X = np.r_[correlated(rng, start, 0.8), correlated(rng, 2000, -0.8)]
        found = feed(MultivariateDrift(FEATURES, seed=seed), X)
        assert found, f"seed {seed}: the flip was missed"
        assert start <= found[0][0] <= start + 1000
        # The marginals did not move: the per-feature KS test stays silent.
        assert feed(NumericDrift(FEATURES, reference_size=2000), X) == []


@pytest.mark.parametrize("seed", range(4))
def test_inside_the_suite_a_flip_is_found_within_the_next_whole_window(seed):
    # The suite's member: a reference of 1000 rows and a twentieth of the 1e-6
    # budget. The flip falls inside a window; the first window wholly after it
    # ends at most 999 rows later.
    rng = np.random.default_rng(seed)
    start = 2000 + 131 * seed + 17
    X = np.r_[mixed(rng, start, 0.8), mixed(rng, 2000, -0.8)]
    det = suite_member([f"x{j}" for j in range(10)])
    found = feed(det, X)
    assert found, "the flip was missed"
    assert start <= found[0][0] < start + 1000
    assert re.search(r"largest change of correlation x0~x1 \+0\.\d+ -> [+-]0\.\d+", found[0][1].message)


def test_inside_the_suite_a_stationary_stream_raises_nothing():
    # 200 windows at alpha 5e-5 each: any false alarm here means a threshold far too low.
    rng = np.random.default_rng(11)
    det = suite_member([f"x{j}" for j in range(10)])
    assert feed(det, mixed(rng, 101_000, 0.8), batch=10_000) == []
    assert det.n_seen == 101_000


def test_a_direction_the_reference_barely_used_is_watched_by_whitening():
    # x2 = x0 + x1 up to a little noise; the noise quadruples. Each feature
    # moves by a few percent of its spread, which no per-feature test sees.
    for seed in range(3):
        rng = np.random.default_rng(seed)
        start = 3000 + 37 * seed
        X = rng.normal(size=(start + 1500, 5))
        noise = np.where(np.arange(len(X)) < start, 0.1, 0.4)
        X[:, 2] = X[:, 0] + X[:, 1] + noise * X[:, 2]
        found = feed(suite_member([f"x{j}" for j in range(5)]), X)
        assert found and start <= found[0][0] < start + 1000
        assert "MMD²" in found[0][1].message
        assert feed(NumericDrift([f"x{j}" for j in range(5)], reference_size=1000), X) == []


def test_a_scale_change_in_one_feature_is_a_second_moment_change():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(5000, 10))
    X[3000:, 6] *= 1.5
    found = feed(MultivariateDrift(FEATURES), X)
    assert found and 3000 <= found[0][0] < 4000
    assert "second-moment gap" in found[0][1].message


def test_a_mean_shift_in_one_feature_is_found():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(5000, 10))
    X[3000:, 4] += 1.0
    found = feed(MultivariateDrift(FEATURES), X)
    assert found and 3000 <= found[0][0] < 4000
    assert "largest mean shift x4 +" in found[0][1].message


def test_only_ranks_matter_so_heavy_tails_change_nothing():
    # Normal scores are read off ranks: any increasing transform of a feature,
    # however skewed or heavy-tailed it makes it, leaves every statistic as it was.
    rng = np.random.default_rng(13)
    X = correlated(rng, 4000, 0.6, d=4)
    Y = np.column_stack([np.exp(3.0 * X[:, 0]), X[:, 1] ** 3, np.arctan(X[:, 2]), X[:, 3] * 1e6])
    a, b = MultivariateDrift(list("abcd"), seed=1), MultivariateDrift(list("abcd"), seed=1)
    a.set_reference(X[:2000])
    b.set_reference(Y[:2000])
    for lo in range(2000, 4000, 500):
        assert a.statistic(X[lo:lo + 500]) == b.statistic(Y[lo:lo + 500])
    assert a.calibration["tests"] == b.calibration["tests"]


def test_normal_scores_cover_every_mid_rank_symmetrically():
    t = normal_scores(1000)
    assert len(t) == 2001 and np.all(np.diff(t) > 0)
    assert t[1000] == pytest.approx(0.0, abs=1e-12) and t == pytest.approx(-t[::-1])
    assert 3.2 < t[-1] < 3.4  # bounded, however far out a new value lies


def test_false_alarms_match_the_rate_at_a_measurable_level():
    # alpha = 1e-3 * 100 = 0.1 per window, 0.05 for each statistic; 5 references x 1000 windows.
    counts = {"mmd": 0, "moments": 0}
    for seed in range(5):
        rng = np.random.default_rng(100 + seed)
        det = MultivariateDrift(FEATURES[:4], reference_size=1000, window=100,
                                n_components=100, false_alarm_rate=1e-3, seed=seed)
        det.set_reference(rng.lognormal(size=(1000, 4)))
        tests = det.calibration["tests"]
        assert [t["alpha"] for t in tests.values()] == pytest.approx([0.05, 0.05])
        X = rng.lognormal(size=(100_000, 4))
        for lo in range(0, len(X), 100):
            for name, value in det.statistic(X[lo:lo + 100]).items():
                counts[name] += value > tests[name]["threshold"]
    for name, k in counts.items():
        assert 0.025 < k / 5000 < 0.075, (name, k)


def test_stored_calibration_gives_identical_results_without_recomputing(monkeypatch):
    rng = np.random.default_rng(2)
    reference = correlated(rng, 3000, 0.8)  # thinned to reference_size rows
    stream = np.r_[correlated(rng, 2000, 0.8), correlated(rng, 2000, -0.8)]
    det = MultivariateDrift(FEATURES, seed=4)
    det.set_reference(reference)
    saved = json.loads(json.dumps(det.calibration))
    assert saved == det.calibration
    expected = [(i, d.value, d.message) for i, d in feed(det, stream)]
    assert expected

    def no_bootstrap(*args, **kwargs):
        raise AssertionError("the calibration was computed again")

    monkeypatch.setattr(mmd, "bootstrap_null", no_bootstrap)
    again = MultivariateDrift(FEATURES, seed=4)
    again.set_reference(reference, calibration=saved)
    assert again.calibration == saved
    assert [(i, d.value, d.message) for i, d in feed(again, stream)] == expected


def test_a_calibration_for_other_parameters_or_rows_is_refused():
    rng = np.random.default_rng(5)
    reference = rng.normal(size=(500, 3))
    det = MultivariateDrift(["a", "b", "c"], reference_size=500, window=100)
    det.set_reference(reference)
    cal = det.calibration
    with pytest.raises(ValueError, match="other parameters .*window"):
        MultivariateDrift(["a", "b", "c"], reference_size=500, window=200).set_reference(reference, cal)
    with pytest.raises(ValueError, match="another reference"):
        det.clone().set_reference(reference[::-1], cal)
    with pytest.raises(ValueError, match="version"):
        det.clone().set_reference(reference, {**cal, "version": 0})
    with pytest.raises(ValueError, match="calibration must be"):
        det.clone().set_reference(reference, {"threshold": 1.0})
    broken = {**cal, "tests": {**cal["tests"], "moments": {"threshold": float("nan")}}}
    fresh = det.clone()
    with pytest.raises(ValueError, match="finite numbers"):
        fresh.set_reference(reference, broken)
    assert not fresh.ready and fresh.calibration is None


def test_missing_values_are_imputed_with_the_reference_median():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(6000, 3))
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 2] = np.inf  # never present: non-finite is missing
    det = MultivariateDrift(["a", "b", "c"], reference_size=2000)
    assert feed(det, X) == []
    # A feature the reference never had is left out: its values change nothing.
    window = rng.normal(size=(500, 3))
    assert det.statistic(window) == det.statistic(np.c_[window[:, :2], np.full(500, np.nan)])
    # A window in which every value is missing sits at the medians: that is a change.
    det.update(np.full((500, 3), np.nan))
    assert det.checked == [("data_drift", "mmd", None)]
    assert det.drift_detected


def test_set_reference_drops_the_window_under_way_and_thins_with_the_seed():
    rng = np.random.default_rng(7)
    det = MultivariateDrift(["a", "b"], reference_size=300, window=100)
    det.update(rng.normal(size=(350, 2)))
    assert det.ready and det.n_seen == 350
    big = rng.normal(size=(1000, 2))
    det.set_reference(big)
    assert det.calibration["reference_rows"] == 300
    det.update(rng.normal(size=(99, 2)))
    assert det.checked == []  # the 50 rows before set_reference() were dropped
    det.update(rng.normal(size=(1, 2)))
    assert len(det.checked) == 1
    twin = MultivariateDrift(["a", "b"], reference_size=300, window=100)
    twin.set_reference(big)
    assert twin.calibration == det.calibration


def test_statistic_and_alpha():
    rng = np.random.default_rng(9)
    det = MultivariateDrift(["a", "b"], reference_size=500, window=250, false_alarm_rate=2e-6)
    assert det.alpha == pytest.approx(5e-4)
    with pytest.raises(ValueError, match="no reference"):
        det.statistic(rng.normal(size=(10, 2)))
    det.update(rng.normal(size=(500, 2)))
    tests = det.calibration["tests"]
    quiet = det.statistic(rng.normal(size=(250, 2)))
    assert all(quiet[k] < tests[k]["threshold"] for k in ("mmd", "moments"))
    moved = det.statistic(rng.normal(size=(250, 2)) + 2.0)
    assert moved["mmd"] > tests["mmd"]["critical_threshold"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"features": "ab"}, "features"),
    ({"reference_size": 1}, "reference_size"),
    ({"window": 0}, "window"),
    ({"n_components": 0}, "n_components"),
    ({"false_alarm_rate": 0.01}, "false_alarm_rate"),
    ({"n_resamples": 0}, "n_resamples"),
    ({"seed": -1}, "seed"),
])
def test_bad_parameters_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultivariateDrift(**{"features": ["a", "b"], **kwargs})


def test_bad_input_is_rejected():
    det = MultivariateDrift(["a", "b"])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        det.update(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="takes numbers"):
        det.update([["x", "y"]])
    with pytest.raises(ValueError, match="at least two rows"):
        det.set_reference(np.zeros((1, 2)))

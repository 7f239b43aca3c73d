"""Thresholds calibrated on the reference: the helpers, their accuracy against exact nulls, and reuse."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import driftline.detectors.features.ks as ks_module
from driftline.detectors import NumericDrift
from driftline.detectors._stats import ks_c
from driftline.detectors.features.calibration import (
    fit_log_prefactor, resample_cumulative, resample_ranks, tie_signature,
)
from tests.detectors.cases import feed

N, M = 1000, 500
SCALE = math.sqrt(N * M / (N + M))


def test_tie_signature_depends_on_the_ties_only():
    rng = np.random.default_rng(0)
    a, b = np.sort(rng.normal(size=500)), np.sort(rng.exponential(size=500))
    assert tie_signature(a) == tie_signature(b) == tie_signature(np.arange(500.0))
    assert tie_signature(a) != tie_signature(a[:499])
    ints = np.sort(rng.poisson(2.0, size=500).astype(float))
    assert tie_signature(ints) == tie_signature(ints * 10 + 3)
    assert tie_signature(ints) != tie_signature(a)


def test_resampled_counts_add_up():
    values = np.sort(np.random.default_rng(1).poisson(1.0, size=300).astype(float))
    cum_ref, cum_win = resample_cumulative(values, 70, resamples=40, rng=np.random.default_rng(2))
    assert cum_ref.shape == cum_win.shape == (40, len(np.unique(values)))
    assert np.all(cum_ref[:, -1] == 300) and np.all(cum_win[:, -1] == 70)
    assert np.all(np.diff(cum_ref, axis=1) >= 0)


@pytest.mark.parametrize("prefactor", [1.0, 0.3])
def test_fit_log_prefactor_recovers_a_known_tail(prefactor):
    # P(T >= t) = prefactor * exp(-2 t^2) for t > 0: an atom at 0 and a Rayleigh tail.
    rng = np.random.default_rng(3)
    t = np.sqrt(rng.exponential(size=40_000) / 2.0) * (rng.random(40_000) < prefactor)
    a = fit_log_prefactor(t, lambda x: -2.0 * x * x)
    assert a == pytest.approx(math.log(prefactor), abs=0.08)


def test_resampled_ks_null_of_a_continuous_feature_has_the_asymptotic_tail():
    cum_ref, cum_win = resample_ranks(N, M, 4000, np.random.default_rng(4))
    t = np.abs(cum_ref * M - cum_win * N).max(axis=1) / (N * M) * SCALE
    # Exactly (10^6 label permutations) the prefactor at these levels is 1.85; the limit is 2.
    assert 1.6 < math.exp(fit_log_prefactor(t, lambda x: -2.0 * x * x)) < 2.2


def exact_ks_exceedance(p, threshold, resamples=200_000, seed=5):
    """P(D sqrt(nm / (n + m)) > threshold) for samples of a discrete distribution ``p``, by brute force."""
    rng = np.random.default_rng(seed)
    ref = np.cumsum(rng.multinomial(N, p, size=resamples), axis=1) / N
    win = np.cumsum(rng.multinomial(M, p, size=resamples), axis=1) / M
    return np.mean(np.abs(ref - win).max(axis=1) * SCALE > threshold)


@pytest.mark.parametrize("p", [[0.5, 0.5], [0.37, 0.37, 0.18, 0.06, 0.02]],
                         ids=["binary", "poisson-like"])
def test_ks_threshold_of_a_tied_feature_is_lower_and_keeps_the_false_alarm_rate(p):
    rng = np.random.default_rng(6)
    alpha = 1e-3
    det = NumericDrift(["x"], window=M, false_alarm_rate=alpha / M, statistics=("ks",))
    det.set_reference(rng.choice(len(p), p=p, size=(N, 1)).astype(float))
    threshold = det.calibration["ks"]["threshold"][0]
    assert threshold < 0.93 * ks_c(alpha), "ties lower the threshold"
    # Still on the safe side: the tail is extrapolated at the continuous rate,
    # and ties make the real tail fall faster than that.
    assert alpha / 10 <= exact_ks_exceedance(p, threshold) <= 1.2 * alpha


def test_psi_threshold_of_a_continuous_feature_keeps_the_false_alarm_rate():
    alpha = 1e-3
    det = NumericDrift(["x"], window=M, false_alarm_rate=alpha / M, statistics=("psi",))
    det.set_reference(np.random.default_rng(7).normal(size=(N, 1)))
    q = det.calibration["psi"]["threshold"][0]
    # Exact null: the window's shares of the ten reference deciles are the
    # spacings of uniform order statistics, Dirichlet(100, ..., 100, 101).
    rng = np.random.default_rng(8)
    shares = rng.dirichlet([100.0] * 9 + [101.0], size=200_000)
    counts = rng.multinomial(M, shares)
    r = 101.0 / 1010.0
    w = (counts + 1.0) / (M + 10.0)
    null = np.sum((w - r) * np.log(w / r), axis=1) * N * M / (N + M)
    assert 0.6 * alpha <= np.mean(null > q) <= 1.5 * alpha


def test_calibration_is_deterministic_for_the_seed():
    X = np.random.default_rng(9).poisson(3.0, size=(1000, 3)).astype(float)
    cals = []
    for seed in (1, 1, 2):
        det = NumericDrift(["a", "b", "c"], seed=seed)
        det.set_reference(X)
        cals.append(det.calibration)
    assert cals[0] == cals[1]
    assert cals[0]["ks"]["log_prefactor"] != cals[2]["ks"]["log_prefactor"]


def drifting_stream(seed=10):
    rng = np.random.default_rng(seed)
    X = np.c_[rng.normal(size=6000), rng.poisson(2.0, size=6000), rng.lognormal(size=6000)]
    X[3000:, 1] += 1
    X[4000:, 2] *= 1.4
    return X


def test_calibration_round_trips_through_json_and_is_used_as_is(monkeypatch):
    X = drifting_stream()
    det = NumericDrift(["a", "b", "c"], seed=4)
    det.set_reference(X[:1000])
    saved = json.dumps(det.calibration)
    expected = [(i, d) for i, d in feed(det, X[1000:])]
    assert expected

    def no_resampling(*args, **kwargs):
        raise AssertionError("a calibration that fits is not made again")

    monkeypatch.setattr(ks_module, "resample_ranks", no_resampling)
    again = NumericDrift(["a", "b", "c"], seed=4)
    again.set_reference(X[:1000], calibration=json.loads(saved))
    assert json.dumps(again.calibration) == saved
    assert feed(again, X[1000:]) == expected


def test_a_calibration_fits_any_reference_with_the_same_ties():
    rng = np.random.default_rng(11)
    det = NumericDrift(["a"])
    det.set_reference(rng.normal(size=(1000, 1)))
    other = NumericDrift(["a"])
    other.set_reference(rng.exponential(size=(1000, 1)), calibration=det.calibration)
    assert other.calibration == det.calibration


@pytest.mark.parametrize(("change", "match"), [
    (lambda c: {**c, "window": 250}, "other parameters"),
    (lambda c: {**c, "statistics": ["ks"]}, "other parameters"),
    (lambda c: {**c, "ties": ["1000:3:0"]}, "other ties"),
    (lambda c: {**c, "version": 99}, "version"),
    (lambda c: {**c, "ks": {**c["ks"], "threshold": []}}, "finite numbers"),
    (lambda c: {**c, "psi": {**c["psi"], "critical": [float("nan")]}}, "finite numbers"),
    (lambda c: {**c, "method": "mmd-rff"}, "NumericDrift"),
    (lambda c: "not a dict", "NumericDrift"),
])
def test_a_calibration_that_does_not_fit_raises_and_changes_nothing(change, match):
    rng = np.random.default_rng(12)
    det = NumericDrift(["a"])
    det.set_reference(rng.normal(size=(1000, 1)))
    good = det.calibration
    det.update(rng.normal(size=(100, 1)))
    before = det.state_dict()
    with pytest.raises(ValueError, match=match):
        det.set_reference(rng.normal(size=(1000, 1)), calibration=change(good))
    after = det.state_dict()
    assert json.dumps(after["state"]["_calibration"]) == json.dumps(before["state"]["_calibration"])
    assert np.array_equal(after["state"]["_ref"], before["state"]["_ref"])
    assert after["state"]["_fill"] == before["state"]["_fill"] == 100


def test_a_calibration_for_an_integer_feature_does_not_fit_a_continuous_one():
    rng = np.random.default_rng(13)
    det = NumericDrift(["a"])
    det.set_reference(rng.poisson(4.0, size=(1000, 1)).astype(float))
    with pytest.raises(ValueError, match="other ties"):
        NumericDrift(["a"]).set_reference(rng.normal(size=(1000, 1)), calibration=det.calibration)


def test_no_calibration_before_a_reference():
    det = NumericDrift(["a"], reference_size=100)
    assert det.calibration is None
    det.update(np.random.default_rng(14).normal(size=(100, 1)))
    assert det.calibration["features"] == ["a"]


def test_a_calibration_made_without_missing_values_does_not_fit_a_reference_with_them():
    rng = np.random.default_rng(15)
    det = NumericDrift(["a"], reference_size=2000)
    det.set_reference(rng.normal(size=(1000, 1)))
    gappy = np.r_[rng.normal(size=(1000, 1)), np.full((250, 1), np.nan)]
    other = NumericDrift(["a"], reference_size=2000)
    with pytest.raises(ValueError, match="missing values"):
        other.set_reference(gappy, calibration=det.calibration)
    other.set_reference(gappy)
    assert other.calibration["ties"] == det.calibration["ties"]
    assert other.calibration["window_values"] == [400] and det.calibration["window_values"] == [500]

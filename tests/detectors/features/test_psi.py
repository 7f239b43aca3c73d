"""PSI: bins at the reference's quantiles, counts, the statistic, and its resampled form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftline.detectors import NumericDrift
from driftline.detectors.features.calibration import resample_cumulative
from driftline.detectors.features.psi import SMOOTHING, bin_counts, psi, psi_edges, psi_resampled
from tests.detectors.cases import feed


def padded(edges, bins):
    out = np.full((1, bins - 1), np.inf)
    out[0, :len(edges)] = edges
    return out


def test_continuous_reference_is_cut_at_its_deciles():
    values = np.sort(np.random.default_rng(0).normal(size=1000))
    edges = psi_edges(values, 10)
    assert edges.tolist() == values[99:900:100].tolist()
    counts = bin_counts(values[:, None], padded(edges, 10), 10)
    assert counts.tolist() == [[100] * 10]


@pytest.mark.parametrize("lam", [0.3, 2.0, 20.0])
def test_discrete_values_are_never_split_and_every_bin_is_full_enough(lam):
    values = np.sort(np.random.default_rng(1).poisson(lam, size=997).astype(float))
    edges = psi_edges(values, 10)
    assert np.all(np.isin(edges, values)) and np.all(np.diff(edges) > 0)
    counts = bin_counts(values[:, None], padded(edges, 10), 10)[0, :len(edges) + 1]
    step = math.ceil(997 / 10)
    assert np.all(counts[:-1] >= step) and 2 * counts[-1] >= step
    assert counts.sum() == 997


def test_a_constant_reference_has_one_bin_and_no_psi_test():
    assert psi_edges(np.zeros(50), 10).size == 0
    det = NumericDrift(["flat", "x"], reference_size=100, window=50, seed=1)
    rng = np.random.default_rng(2)
    det.set_reference(np.c_[np.zeros(100), rng.normal(size=100)])
    det.update(np.c_[np.ones(50), rng.normal(size=50)])
    assert ("data_drift", "psi", "flat") not in det.checked
    assert [(d.detector, d.feature) for d in det.detections] == [("ks", "flat")]


def test_values_outside_the_reference_fall_in_the_open_end_bins_and_nan_is_left_out():
    edges = padded(np.array([1.0, 2.0, 3.0]), 6)  # four bins used of six
    X = np.array([[-1e9], [1.0], [1.5], [3.0], [3.5], [1e9], [np.nan]])
    assert bin_counts(X, edges, 6).tolist() == [[2, 1, 1, 2, 0, 0]]


def test_counts_added_in_pieces_equal_counts_of_the_whole():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    edges = np.sort(rng.normal(size=(4, 9)), axis=1)
    edges[2, 5:] = np.inf
    whole = bin_counts(X, edges, 10)
    parts = sum(bin_counts(X[a:a + 37], edges, 10) for a in range(0, 500, 37))
    assert np.array_equal(whole, parts)
    assert whole.sum(axis=1).tolist() == np.count_nonzero(~np.isnan(X), axis=0).tolist()


def test_psi_is_the_smoothed_symmetric_divergence():
    ref = np.array([[100, 300, 0, 600]])
    win = np.array([[50, 40, 10, 0]])
    k = 3  # the fourth column is not a bin
    r = (ref[0, :k] + SMOOTHING) / (ref[0, :k].sum() + k * SMOOTHING)
    w = (win[0, :k] + SMOOTHING) / (win[0, :k].sum() + k * SMOOTHING)
    assert psi(ref, win, np.array([k]))[0] == pytest.approx(np.sum((w - r) * np.log(w / r)))
    assert psi(ref, ref, np.array([k]))[0] == 0.0


@pytest.mark.parametrize("kind", ["normal", "poisson", "zero-inflated"])
def test_resampled_psi_bins_exactly_as_the_detector_does(kind):
    rng = np.random.default_rng(4)
    n, m = 300, 120
    values = {"normal": rng.normal(size=n),
              "poisson": rng.poisson(2.0, size=n).astype(float),
              "zero-inflated": np.where(rng.random(n) < 0.4, 0.0, rng.normal(size=n))}[kind]
    values = np.sort(values)
    cum_ref, cum_win = resample_cumulative(values, m, resamples=50, rng=rng)
    fast = psi_resampled(cum_ref, cum_win, n, 10)
    distinct = np.unique(values)
    for i in range(50):
        # Rebuild the resampled values from their cumulative counts and bin them as the detector does.
        ref = np.repeat(distinct, np.diff(cum_ref[i], prepend=0))
        win = np.repeat(distinct, np.diff(cum_win[i], prepend=0))
        edges = psi_edges(ref, 10)
        counts_ref = bin_counts(ref[:, None], padded(edges, 10), 10)
        counts_win = bin_counts(win[:, None], padded(edges, 10), 10)
        assert fast[i] == pytest.approx(psi(counts_ref, counts_win, np.array([len(edges) + 1]))[0],
                                        abs=1e-12)


def test_psi_finds_a_wider_spread_that_ks_is_slow_to_see():
    psi_first, ks_first = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        det = NumericDrift([f"x{j}" for j in range(10)], seed=seed)
        X = rng.normal(size=(8000, 10))
        X[3000:, 6] *= 1.5
        found = [(i, d.detector) for i, d in feed(det, X) if d.feature == "x6"]
        assert found and min(i for i, _ in found) >= 3000
        psi_first.append(min((i for i, s in found if s == "psi"), default=math.inf))
        ks_first.append(min((i for i, s in found if s == "ks"), default=math.inf))
    assert max(psi_first) <= 4499, "within the first full window after the change"
    assert np.median(psi_first) < np.median(ks_first)

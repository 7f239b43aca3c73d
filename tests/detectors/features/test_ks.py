"""NumericDrift: the KS statistic, thresholds, detection by both statistics, false alarms, missing values,
input checks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from driftline.detectors import NumericDrift
from driftline.detectors._stats import ks_c
from driftline.detectors.features.ks import ks_statistics
from driftline.detectors.features.psi import bin_counts, psi_edges
from driftline.detectors.features.window_counts import at_edges, count, distinct_values, ks_distance
from tests.detectors.cases import feed

FEATURES = [f"x{j}" for j in range(10)]




def naive_ks(a, b):
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    points = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), points, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), points, side="right") / len(b)
    w1 = np.sum(np.abs(fa - fb)[:-1] * np.diff(points))
    return np.max(np.abs(fa - fb)), w1


def test_statistics_match_a_direct_computation_with_ties_and_missing_values():
    rng = np.random.default_rng(0)
    ref = rng.poisson(3, size=(300, 4)).astype(float)
    win = rng.poisson(3.4, size=(120, 4)).astype(float)
    ref[:, 1] = rng.normal(size=300)
    win[:, 1] = rng.normal(0.3, size=120)
    ref[rng.random(ref.shape) < 0.2] = np.nan
    win[rng.random(win.shape) < 0.2] = np.nan
    ref_sorted = np.sort(ref.T, axis=1)
    stat, w1, m = ks_statistics(ref_sorted, np.count_nonzero(~np.isnan(ref), axis=0), win)
    for j in range(4):
        d, w = naive_ks(ref[:, j], win[:, j])
        assert stat[j] == pytest.approx(d, abs=1e-12)
        assert w1[j] == pytest.approx(w, rel=1e-9)
        assert m[j] == np.count_nonzero(~np.isnan(win[:, j]))


def test_counts_against_the_reference_give_the_same_statistic_and_bins():
    rng = np.random.default_rng(2)
    ref = np.c_[rng.poisson(3, size=300), rng.normal(size=300), np.round(rng.normal(size=300), 1)]
    ref[rng.random(ref.shape) < 0.2] = np.nan
    ref_sorted = np.sort(ref.T, axis=1)
    ref_n = np.count_nonzero(~np.isnan(ref), axis=0)
    values = [ref_sorted[j, :ref_n[j]] for j in range(3)]
    distinct, cum_ref = distinct_values(values, 300)
    n_distinct = np.count_nonzero(np.isfinite(distinct), axis=1)
    edges = np.full((3, 9), np.inf)
    cells = np.repeat(n_distinct[:, None], 9, axis=1)
    for j, v in enumerate(values):
        e = psi_edges(v, 10)
        edges[j, :len(e)], cells[j, :len(e)] = e, np.searchsorted(distinct[j], e)
    for _ in range(20):
        win = np.c_[rng.poisson(3.3, size=120), rng.normal(0.2, size=120),
                    np.round(rng.normal(size=120), 1) * 1.2]
        win[rng.random(win.shape) < 0.2] = np.nan
        below, at_or_below = 0, 0
        for a in range(0, 120, 50):  # counted in pieces, as rows arrive
            b, ab = count(win[a:a + 50], distinct, n_distinct)
            below, at_or_below = below + b, at_or_below + ab
        stat, _, m = ks_statistics(ref_sorted, ref_n, win)
        assert np.allclose(ks_distance(cum_ref, ref_n, below, at_or_below), stat, rtol=0, atol=1e-12)
        assert np.array_equal(at_edges(below, cells), bin_counts(win, edges, 10))
        assert np.array_equal(below[:, :-1].sum(axis=1), m)


def test_threshold_follows_the_false_alarm_budget():
    det = NumericDrift(["a", "b", "c", "d"], reference_size=1000, window=500, false_alarm_rate=1e-6)
    assert det.alpha == pytest.approx(1e-6 * 500 / (4 * 2)), "four features, two statistics"
    assert NumericDrift(["a"], statistics=("ks",)).alpha == pytest.approx(1e-6 * 500)
    rng = np.random.default_rng(1)
    det.update(rng.normal(size=(1000, 4)))
    X = rng.normal(size=(500, 4))
    X[:, 2] += 2.0
    det.update(X)
    assert {(d.detector, d.feature) for d in det.detections} == {("ks", "c"), ("psi", "c")}
    d = next(d for d in det.detections if d.detector == "ks")
    assert d.batch_index == 499 and d.severity == "critical"
    # A continuous feature has no ties: the calibrated threshold is the asymptotic one, give or take.
    asymptotic = ks_c(det.alpha) * math.sqrt(1500 / (1000 * 500))
    assert 0.97 * asymptotic <= d.threshold <= asymptotic
    assert "Wasserstein-1" in d.message


def test_detects_a_half_sd_mean_shift_in_one_of_ten_features():
    for seed in range(5):
        rng = np.random.default_rng(seed)
        det = NumericDrift(FEATURES)
        X = rng.normal(size=(6000, 10))
        start = 3000 + 137 * seed
        X[start:, 4] += 0.5
        found = [(i, d) for i, d in feed(det, X) if d.feature == "x4"]
        first = min(i for i, d in found if d.detector == "ks")
        assert start <= first <= start + 1000, "within the window of the change and the next one"
        assert min(i for i, _ in found) >= start


def test_stationary_stream_raises_no_alarm():
    rng = np.random.default_rng(42)
    det = NumericDrift(FEATURES)
    assert feed(det, rng.normal(size=(200_000, 10)), batch=5000) == []
    assert det.n_seen == 200_000
    assert len(det.checked) == 10 * 10 * 2  # ten windows of ten features, two statistics each
    det = NumericDrift(FEATURES)
    assert feed(det, rng.poisson(2.0, size=(100_000, 10)).astype(float), batch=5000) == []


def test_missing_values_are_left_out_per_feature():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20_000, 3))
    X[rng.random(X.shape) < 0.3] = np.nan
    X[:, 2] = np.nan  # a feature that is never present is never tested
    X[::7, 0] = np.inf  # non-finite values count as missing too
    det = NumericDrift(["a", "b", "c"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = feed(det, X)
    assert found == []
    assert {k[2] for k in det.checked} == {"a", "b"}
    X[10_000:, 1] += 1.0
    det.reset()
    found = feed(det, X)
    assert {d.feature for _, d in found} == {"b"}
    assert "recent values vs" in found[0][1].message


def test_warm_up_then_windows_across_batches():
    rng = np.random.default_rng(4)
    det = NumericDrift(["a"], reference_size=100, window=50)
    det.update(rng.normal(size=(99, 1)))
    assert not det.ready and det.checked == []
    det.update(rng.normal(size=(1, 1)))
    assert det.ready
    det.update(rng.normal(size=(49, 1)))
    assert det.checked == []
    det.update(rng.normal(size=(1, 1)) + 10)
    assert det.checked == [("data_drift", "ks", "a"), ("data_drift", "psi", "a")]


def test_set_reference_thins_with_the_seed_and_restarts_the_window():
    rng = np.random.default_rng(5)
    training = rng.normal(size=(5000, 2))
    a, b, c = (NumericDrift(["p", "q"], reference_size=300, seed=s) for s in (1, 1, 2))
    for det in (a, b, c):
        det.set_reference(training)
        assert det.ready
    assert np.array_equal(a._ref, b._ref) and not np.array_equal(a._ref, c._ref)
    assert a._ref.shape == (2, 300)
    a.update(rng.normal(size=(200, 2)))
    a.set_reference(training[:50])
    assert a._fill == 0 and a._ref_n.tolist() == [50, 50]


@pytest.mark.parametrize("bad", [
    np.zeros(10),
    np.zeros((5, 9)),
    np.zeros((5, 10, 1)),
    np.array([["a"] * 10]),
])
def test_bad_shapes_are_rejected(bad):
    det = NumericDrift(FEATURES)
    with pytest.raises(ValueError, match=r"shape \(n, 10\)|takes numbers"):
        det.update(bad)
    assert det.n_seen == 0


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="at least one"):
        NumericDrift([])
    with pytest.raises(ValueError, match="unique"):
        NumericDrift(["a", "a"])
    with pytest.raises(ValueError, match="list of names"):
        NumericDrift("abc")
    with pytest.raises(ValueError, match="window"):
        NumericDrift(["a"], window=0)
    with pytest.raises(ValueError, match="false_alarm_rate"):
        NumericDrift(["a"], window=500, false_alarm_rate=0.01)
    with pytest.raises(ValueError, match="at least one row"):
        NumericDrift(["a"]).set_reference(np.zeros((0, 1)))
    with pytest.raises(ValueError, match="statistics"):
        NumericDrift(["a"], statistics=("ks", "mean"))
    with pytest.raises(ValueError, match="statistics"):
        NumericDrift(["a"], statistics=())
    with pytest.raises(ValueError, match="bins"):
        NumericDrift(["a"], bins=1)
    with pytest.raises(ValueError, match="seed"):
        NumericDrift(["a"], seed=-1)

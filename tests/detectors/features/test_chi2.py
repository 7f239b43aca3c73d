"""CategoricalDrift: the statistic, cells, detection, false alarms, missing values, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors import CategoricalDrift
from driftline.detectors._stats import chi2_isf
from driftline.detectors.features.chi2 import OTHER, homogeneity_chi2
from tests.detectors.cases import feed

CATS = np.array(["a", "b", "c", "d", "e"], dtype=object)
P = [0.35, 0.25, 0.2, 0.15, 0.05]


def sample(rng, p, size):
    return CATS[rng.choice(len(p), p=p, size=size)]




def test_statistic_is_pearsons_for_the_two_row_table():
    ref, win = np.array([50, 30, 15, 5]), np.array([20, 20, 5, 15])
    table = np.array([ref, win], dtype=float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    assert homogeneity_chi2(ref, win) == pytest.approx(((table - expected) ** 2 / expected).sum())


def test_frequent_categories_get_cells_and_rare_ones_share_one():
    det = CategoricalDrift(["f"], reference_size=1000, window=500)
    col = ["a"] * 600 + ["b"] * 385 + ["c"] * 9 + ["d"] * 6
    det.set_reference(np.array(col, dtype=object)[:, None])
    # 5 expected in a window of 500 needs 10 of 1000 in the reference.
    assert det._cells[0] == ["a", "b", OTHER]
    assert det._ref_counts[0].tolist() == [600, 385, 15]


def test_detects_a_frequency_shift_in_one_of_five_features():
    for seed in range(5):
        rng = np.random.default_rng(seed)
        X = sample(rng, P, (6000, 5))
        start = 3000 + 111 * seed
        X[start:, 3] = sample(rng, [0.2, 0.25, 0.2, 0.15, 0.2], 6000 - start)
        found = feed(CategoricalDrift([f"f{j}" for j in range(5)]), X)
        assert {d.feature for _, d in found} == {"f3"}
        first = min(i for i, _ in found)
        assert start <= first <= start + 1000
        d = found[0][1]
        # Calibrated on the reference: with 25+ expected per cell the chi-squared
        # limit is close, and the threshold is never below it.
        limit = chi2_isf(1e-6 * 500 / 5, 4)
        assert limit <= d.threshold <= 1.05 * limit


def test_a_surge_of_unseen_categories_is_drift_but_a_trickle_is_not():
    rng = np.random.default_rng(1)
    det = CategoricalDrift(["country"])
    det.update(sample(rng, P, (1000, 1)))
    trickle = sample(rng, P, (20_000, 1))
    trickle[::500, 0] = [f"new{i}" for i in range(40)]  # one new category per window
    assert feed(det, trickle) == []
    surge = sample(rng, P, (1000, 1))
    surge[::12, 0] = "XX"
    found = feed(det, surge)
    assert found and "unseen 8.4%" in found[0][1].message


def test_stationary_streams_raise_no_alarm():
    rng = np.random.default_rng(7)
    det = CategoricalDrift(["few", "tail"])
    tail = 1.0 / np.arange(1, 2001) ** 1.1
    X = np.empty((100_000, 2), dtype=object)
    X[:, 0] = sample(rng, P, 100_000)
    X[:, 1] = np.array([f"m{k}" for k in range(2000)], dtype=object)[
        rng.choice(2000, p=tail / tail.sum(), size=100_000)]
    assert feed(det, X, batch=5000) == []


def test_missing_values_are_left_out():
    rng = np.random.default_rng(2)
    X = sample(rng, P, (10_000, 3))
    X[rng.random(X.shape) < 0.3] = None
    X[rng.random(X.shape) < 0.1] = float("nan")
    X[:, 2] = None
    det = CategoricalDrift(["a", "b", "c"])
    assert feed(det, X) == []
    assert {k[2] for k in det.checked} == {"a", "b"}
    assert all(isinstance(c, str) for c in det._cell_of[0])
    assert sum(det._ref_counts[0]) < 1000


@pytest.mark.parametrize("bad", [
    np.array(["a", "b"], dtype=object),
    np.array([["a", "b"]], dtype=object),
    np.zeros((2, 3, 1), dtype=object),
])
def test_bad_shapes_are_rejected(bad):
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        CategoricalDrift(["a", "b", "c"]).update(bad)


def test_unhashable_values_are_rejected():
    X = np.empty((1, 1), dtype=object)
    X[0, 0] = ["a list"]
    with pytest.raises(ValueError, match="hashable"):
        CategoricalDrift(["a"]).update(X)


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="reference_size"):
        CategoricalDrift(["a"], reference_size=0)
    with pytest.raises(ValueError, match="false_alarm_rate"):
        CategoricalDrift(["a"], false_alarm_rate=0)
    with pytest.raises(ValueError, match="at least one row"):
        CategoricalDrift(["a"]).set_reference(np.empty((0, 1), dtype=object))


def test_calibration_round_trips_and_refuses_another_reference():
    import json

    rng = np.random.default_rng(4)
    ref = sample(rng, P, (1000, 2))
    det = CategoricalDrift(["a", "b"], seed=1)
    det.set_reference(ref)
    saved = json.loads(json.dumps(det.calibration))
    assert saved["log_prefactor"] == det.calibration["log_prefactor"]
    again = CategoricalDrift(["a", "b"], seed=1)
    again.set_reference(ref, calibration=saved)
    later = sample(rng, [0.2, 0.25, 0.2, 0.15, 0.2], (2000, 2))
    assert feed(again, later) == feed(det, later)
    with pytest.raises(ValueError, match="another reference"):
        CategoricalDrift(["a", "b"], seed=1).set_reference(ref[::-1][:900], calibration=saved)
    with pytest.raises(ValueError, match="other parameters"):
        CategoricalDrift(["a", "b"], seed=2).set_reference(ref, calibration=saved)


def test_the_calibrated_threshold_is_never_below_the_chi_squared_limit():
    cats = np.array([f"c{k}" for k in range(10)], dtype=object)
    p = np.array([0.901] + [0.011] * 9)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        det = CategoricalDrift(["f"], seed=seed)
        det.set_reference(cats[rng.choice(10, p=p, size=(1000, 1))])
        assert det.calibration["log_prefactor"][0] >= 0.0
        for df in (1, 5, 9):
            assert det.threshold(0, det.alpha, df) >= chi2_isf(det.alpha, df)

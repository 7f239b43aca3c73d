"""CategoricalDrift: the statistic, cells, detection, false alarms, missing values, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors import CategoricalDrift
from driftline.detectors._stats import chi2_isf
from driftline.detectors.chi2 import OTHER, homogeneity_chi2
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
        assert d.threshold == pytest.approx(chi2_isf(1e-6 * 500 / 5, 4))


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

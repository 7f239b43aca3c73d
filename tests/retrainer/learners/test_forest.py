"""The default trainer's learners: binning, the histogram forest, the softmax regression."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.retrainer.learners.forest import Binner, HistogramForest
from driftline.retrainer.learners.logistic import Design, SoftmaxRegression


def test_binner_keeps_each_distinct_value_apart_and_quantiles_beyond() -> None:
    few = Binner().fit({"x": [3.0, 1.0, 2.0, 2.0]}, {"x": "number"})
    assert few.transform({"x": [1.0, 1.4, 1.6, 3.0, 99.0]})[:, 0].tolist() == [0, 0, 1, 2, 2]
    many = Binner(max_bins=10).fit({"x": np.arange(1000.0)}, {"x": "number"})
    bins = many.transform({"x": np.arange(1000.0)})[:, 0]
    assert many.n_bins.tolist() == [10] and np.bincount(bins).tolist() == [100] * 10


def test_binner_categories_by_frequency_and_one_code_for_the_rest() -> None:
    b = Binner(max_bins=3).fit({"c": list("aaabbc") + [None]}, {"c": "category"})
    assert b.transform({"c": ["a", "b", "c", "zzz", None]})[:, 0].tolist() == [0, 1, 2, 2, 2]
    assert b.transform({})[:, 0].tolist() == []  # no column, no rows


def xor_raw(n: int, seed: int) -> tuple[dict, np.ndarray]:
    """A number and a colour whose label is their exclusive or: neither alone says anything."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    colour = rng.choice(["red", "green", "blue", "grey"], n).tolist()
    y = ((x > 6) ^ np.isin(colour, ["red", "grey"])).astype(int)
    return {"x": x, "colour": colour}, y


def xor_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, Binner]:
    columns, y = xor_raw(n, seed)
    binner = Binner().fit(columns, {"x": "number", "colour": "category"})
    return binner.transform(columns), y, binner


def test_the_forest_learns_an_interaction_of_a_number_and_a_category() -> None:
    B, y, binner = xor_data(800, 0)
    forest = HistogramForest(seed=1).fit(B, y, 2, binner.categorical)
    test, truth = xor_raw(2000, 1)
    assert (forest.predict_proba(binner.transform(test)).argmax(axis=1) == truth).mean() > 0.97
    # Out of bag, every training row is judged by the trees that did not sample it.
    oob = forest.oob_proba_
    assert oob.shape == (800, 2) and np.isfinite(oob).all()
    assert (oob.argmax(axis=1) == y).mean() > 0.95


def test_the_forest_is_seeded_and_its_shares_sum_to_one() -> None:
    B, y, binner = xor_data(500, 3)
    a = HistogramForest(n_trees=5, seed=7).fit(B, y, 2, binner.categorical).predict_proba(B)
    b = HistogramForest(n_trees=5, seed=7).fit(B, y, 2, binner.categorical).predict_proba(B)
    c = HistogramForest(n_trees=5, seed=8).fit(B, y, 2, binner.categorical).predict_proba(B)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.allclose(a.sum(axis=1), 1.0)


def test_the_forest_with_three_classes_and_a_depth_limit() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, (900, 1))
    y = x[:, 0].astype(int)
    B = Binner().fit({"x": x[:, 0]}, {"x": "number"}).transform({"x": x[:, 0]})
    stump = HistogramForest(n_trees=3, max_depth=1, seed=0).fit(B, y, 3)
    assert stump._depth == 1 and len(set(stump.predict_proba(B).argmax(axis=1))) == 2
    full = HistogramForest(n_trees=3, seed=0).fit(B, y, 3)
    assert (full.predict_proba(B).argmax(axis=1) == y).mean() > 0.99


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_trees=0), "n_trees must be >= 1"),
    (dict(max_features=0.0), "max_features must be in"),
    (dict(min_leaf=0), "min_leaf must be >= 1"),
])
def test_forest_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HistogramForest(**kwargs)


def test_softmax_regression_on_a_linear_boundary_with_three_classes() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 2))
    y = np.digitize(X[:, 0] + X[:, 1], [-1.0, 1.0])
    model = SoftmaxRegression().fit(X, y, 3)
    P = model.predict_proba(X)
    assert np.allclose(P.sum(axis=1), 1.0) and (P.argmax(axis=1) == y).mean() > 0.95


def test_design_standardises_numbers_and_one_hots_categories() -> None:
    d = Design().fit({"x": [1.0, 3.0, None], "c": ["a", "b", "a"]}, {"x": "number", "c": "category"})
    X = d.transform({"x": [1.0, None, 5.0], "c": ["b", "new", None]})
    assert X.tolist() == [[-1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]

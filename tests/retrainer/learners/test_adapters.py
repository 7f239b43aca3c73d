"""Adapters: river and scikit-learn-style estimators as models, fitted on the window."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from driftline.retrainer.learners.adapters import RiverAdapter, SklearnAdapter, as_model
from driftline.retrainer.evaluation.gate import accuracy, baseline_accuracy, time_ordered_split
from tests.retrainer.streams import stream_frame
from tests.retrainer.trainer_zoo import MiniBatch, NearestMean

FEATURES = ["0", "1", "2"]


def test_a_fit_predict_estimator_learns_and_answers_in_the_label_type() -> None:
    df = stream_frame("sea", 2000)
    df["label"] = df["label"].map({False: "no", True: "yes"})
    train, holdout = time_ordered_split(df, 0.3)
    model = as_model(NearestMean(), train, FEATURES)
    assert isinstance(model, SklearnAdapter)
    assert accuracy(model, holdout, FEATURES) > baseline_accuracy(holdout) + 0.1
    assert model.predict_one({"0": 9.0, "1": 9.0, "2": 0.0}) == "yes"
    assert type(model.predict_one({})) is str  # missing features read as the training mean
    proba = model.predict_proba_one({"0": 9.0, "1": 9.0})
    assert set(proba) == {"no", "yes"} and proba["yes"] > 0.5 and sum(proba.values()) == pytest.approx(1)
    again = pickle.loads(pickle.dumps(model))
    rows = holdout[FEATURES].to_dict("records")
    assert again.predict_many(rows) == model.predict_many(rows)


def test_categories_are_one_hot_and_unseen_ones_are_ignored() -> None:
    df = pd.DataFrame({"colour": ["red", "blue"] * 50, "size": [1.0, None] * 50,
                       "label": [1, 0] * 50})
    model = as_model(NearestMean(), df, ["colour", "size"])
    assert model.predict_many([{"colour": "red"}, {"colour": "blue"}]) == [1, 0]
    assert model.predict_one({"colour": "green", "size": "n/a"}) in {0, 1}


def test_a_river_estimator_is_fitted_in_time_order() -> None:
    from river import tree

    df = stream_frame("agrawal0", 1500)
    train, holdout = time_ordered_split(df, 0.3)
    features = ["salary", "commission", "age", "elevel", "car", "zipcode", "hvalue", "hyears", "loan"]
    model = as_model(tree.HoeffdingTreeClassifier(grace_period=50), train, features)
    assert isinstance(model, RiverAdapter)
    assert accuracy(model, holdout, features) > baseline_accuracy(holdout) + 0.1
    assert set(model.predict_proba_one(holdout[features].iloc[0].to_dict())) <= {0, 1}


@pytest.mark.parametrize("frame, expected", [
    (pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": [0, 1, 1]}), ["learn_many"]),
    # A missing number, or a category, cannot go into a numeric batch: one row at a time.
    (pd.DataFrame({"x": [1.0, None, 3.0], "label": [0, 1, 1]}), ["learn_one"] * 3),
    (pd.DataFrame({"x": ["a", "b", "c"], "label": [0, 1, 1]}), ["learn_one"] * 3),
])
def test_learn_many_is_used_when_the_batch_fits(frame: pd.DataFrame, expected: list[str]) -> None:
    model = as_model(MiniBatch(), frame, ["x"])
    assert model.estimator.calls == expected
    assert model.predict_one({"x": 5.0}) == 1


class OnlyPredictOne:
    def predict_one(self, x: dict) -> int:
        return 1


def test_ready_models_are_kept_and_anything_else_is_refused() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0], "label": [0, 1]})
    fitted = SklearnAdapter(NearestMean()).fit(df, ["x"])
    assert as_model(fitted, df, ["x"]) is fitted
    assert as_model(OnlyPredictOne(), df, ["x"]).predict_many([{}, {}]) == [1, 1]
    with pytest.raises(TypeError, match="the trainer returned a str, which is neither a model"):
        as_model("model", df, ["x"])

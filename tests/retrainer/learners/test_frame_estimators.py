"""The users' own models: Pipelines that select columns by name, and LightGBM, fitted on DataFrames."""

from __future__ import annotations

import importlib.util
import random

import pandas as pd
import pytest

from driftline.contract import Labeled, RetrainRequest
from driftline.retrainer.data.frame import feature_columns, labeled_frame
from driftline.retrainer.learners.adapters import SklearnAdapter, as_model
from driftline.retrainer.learners.frame_adapter import FrameAdapter
from driftline.retrainer.orchestration.job import retrain
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.registry import Registry
from driftline.settings import Settings

ZOO = "tests.retrainer.trainer_zoo"
SETTINGS = Settings(min_train_examples=200, train_timeout_s=120)
HAS_LIGHTGBM = importlib.util.find_spec("lightgbm") is not None


def concept(amount: float, n_items: int, country: str) -> int:
    return int(amount + 3 * (country == "FR") - 0.5 * n_items > 4)


def events(n: int, seed: int = 3, start: int = 0) -> list[Labeled]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        x = {"amount": round(rng.uniform(0, 10), 2), "n_items": rng.randint(0, 4),
             "country": rng.choice(["NL", "DE", "FR"])}
        if i % 17 == 0:
            del x["amount"]  # a missing value now and then, as services send them
        y = concept(x.get("amount", 5.0), x["n_items"], x["country"])
        out.append(Labeled(f"e{start + i}", "m", "0", start + i, start + i + 1, x, y, y))
    return out


def accuracy(model, rows: list[Labeled]) -> float:
    answers = model.predict_many([e.features for e in rows])
    return sum(a == e.label for a, e in zip(answers, rows)) / len(rows)


def test_a_pipeline_selecting_columns_by_name_is_trained_gated_stored_and_served(
        registry: Registry, store: ArtifactStore) -> None:
    record = retrain(RetrainRequest("q1", "m", ["a1"], 0, 1), labeled_frame(events(600)), registry, store,
                     SETTINGS, trainer_spec=f"{ZOO}:column_pipeline")
    assert record.status == "champion", record.reason
    model = store.load(record.artifact_uri, record.sha256, model_id="m")
    assert isinstance(model, FrameAdapter)
    # Fit on a DataFrame with the features' own names and types, not a float matrix.
    probe = model.estimator.named_steps["probe"]
    assert probe.dtypes_ == {"amount": "float64", "country": "object", "n_items": "int64"}
    fresh = events(300, seed=4, start=10_000)
    assert accuracy(model, fresh) > 0.9
    # One row at a time, a missing feature and an unseen category included, as a service asks.
    assert model.predict_one({"n_items": 1, "country": "BE"}) in (0, 1)
    assert model.predict_one({"amount": 9.5, "n_items": 0, "country": "FR"}) == 1


def test_a_pipeline_the_trainer_fitted_itself_is_served_as_fitted(registry: Registry,
                                                                   store: ArtifactStore) -> None:
    window = labeled_frame(events(600))
    features = feature_columns(window)
    from tests.retrainer.trainer_zoo import fitted_column_pipeline

    pipe = fitted_column_pipeline(window, features)
    coef = pipe.named_steps["clf"].coef_.copy()
    model = as_model(pipe, window, features)
    assert isinstance(model, FrameAdapter) and model.estimator is pipe
    assert (pipe.named_steps["clf"].coef_ == coef).all()  # not fitted again
    assert accuracy(model, events(300, seed=5, start=10_000)) > 0.9
    record = retrain(RetrainRequest("q1", "m", [], 0, 1), window, registry, store, SETTINGS,
                     trainer_spec=f"{ZOO}:fitted_column_pipeline")
    assert record.status == "champion", record.reason


def test_the_old_float_matrix_still_feeds_estimators_that_take_one(store: ArtifactStore) -> None:
    from sklearn.linear_model import LogisticRegression

    window = labeled_frame(events(400))
    model = as_model(LogisticRegression(), window, feature_columns(window))
    assert isinstance(model, SklearnAdapter)
    assert accuracy(model, events(200, seed=6, start=10_000)) > 0.8


def test_a_column_transformer_by_name_fails_on_a_matrix_which_is_why_frames_exist() -> None:
    from tests.retrainer.trainer_zoo import _column_pipeline

    window = labeled_frame(events(200))
    with pytest.raises(ValueError, match="only supported for dataframes"):
        SklearnAdapter(_column_pipeline()).fit(window, feature_columns(window))


@pytest.mark.skipif(not HAS_LIGHTGBM, reason="skipped only because LightGBM is not installed "
                                             "(pip install lightgbm; the test extra installs it)")
def test_lightgbm_through_the_same_interface_with_native_categories(registry: Registry,
                                                                    store: ArtifactStore) -> None:
    record = retrain(RetrainRequest("q1", "m", [], 0, 1), labeled_frame(events(800)), registry, store,
                     SETTINGS, trainer_spec=f"{ZOO}:lightgbm")
    assert record.status == "champion", record.reason
    model = store.load(record.artifact_uri, record.sha256, model_id="m")
    assert isinstance(model, FrameAdapter) and model.native_categories
    frame = model.frame([{"amount": 1.0, "n_items": 2, "country": "FR"}, {"country": "BE"}])
    assert str(frame["country"].dtype) == "category"
    assert frame["country"].cat.categories.tolist() == ["DE", "FR", "NL"]
    assert pd.isna(frame["country"][1]) and pd.isna(frame["amount"][1])  # unseen, missing: NaN
    assert accuracy(model, events(300, seed=7, start=10_000)) > 0.9
    probabilities = model.predict_proba_one({"amount": 9.0, "n_items": 0, "country": "NL"})
    assert set(probabilities) == {0, 1} and probabilities[1] > 0.5

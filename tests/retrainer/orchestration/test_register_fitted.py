"""A fitted model the user already has, registered as the first champion, then gated like any other."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import fsspec
import joblib
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from driftline.contract import RetrainRequest
from driftline.retrainer.data.frame import labeled_frame
from driftline.retrainer.exceptions import ArtifactSignatureError, ExternalModelError, RegistryError
from driftline.retrainer.orchestration.job import retrain
from driftline.retrainer.orchestration.register import ORIGIN, TRAINER, register_fitted
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.registry import Registry
from driftline.settings import Settings
from tests.retrainer.conftest import TEST_KEY
from tests.retrainer.learners.test_frame_estimators import ZOO, accuracy, events


def frame_of(rows) -> tuple[pd.DataFrame, list[int]]:
    df = pd.DataFrame([{"amount": e.features.get("amount", float("nan")), "n_items": e.features["n_items"],
                        "country": e.features["country"]} for e in rows])
    return df, [e.label for e in rows]


def user_pipeline() -> Pipeline:
    """What a user trained on their own: columns chosen by name, one of them a category."""
    df, y = frame_of(events(500, seed=11))
    columns = ColumnTransformer([("country", OneHotEncoder(handle_unknown="ignore"), ["country"]),
                                 ("numbers", SimpleImputer(), ["amount", "n_items"])])
    return Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=500))]).fit(df, y)


@pytest.fixture
def db(registry_url: str):
    with Registry(registry_url) as registry:
        yield registry


def test_a_pickled_pipeline_becomes_a_signed_user_supplied_champion(db: Registry, store: ArtifactStore,
                                                                     tmp_path: Path) -> None:
    pipe = user_pipeline()
    path = tmp_path / "fraud.pkl"
    path.write_bytes(pickle.dumps(pipe))
    record = register_fitted(db, store, "fraud", str(path))
    assert (record.version, record.status, record.parent_version, record.trainer) == (
        "1", "champion", None, TRAINER)
    assert record.features == ["amount", "n_items", "country"]  # the DataFrame's columns, in order
    assert record.window == {"origin": ORIGIN, "source": str(path), "format": "pickle",
                             "source_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert record.reason == f"registered by hand from {path}" and record.alert_ids == []
    assert db.champion("fraud") == record
    stored = store.path_of(record.artifact_uri).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == record.sha256
    # Signed like any artifact: another key refuses it before anything is unpickled.
    with pytest.raises(ArtifactSignatureError, match="signed with another key"):
        ArtifactStore(tmp_path / "artifacts", key=b"x" * 32).load(record.artifact_uri, record.sha256)
    model = store.load(record.artifact_uri, record.sha256, model_id="fraud")
    # A service asks with rows as dicts, a missing value now and then; the answers are the user's model's.
    full = events(200, seed=12, start=5_000)
    assert any("amount" not in e.features for e in full)
    assert model.predict_many([e.features for e in full]) == pipe.predict(frame_of(full)[0]).tolist()
    assert [model.predict_one(e.features) for e in full[:20]] == pipe.predict(frame_of(full[:20])[0]).tolist()


def test_a_joblib_file_and_an_fsspec_url_are_read_too(db: Registry, store: ArtifactStore,
                                                      tmp_path: Path) -> None:
    pipe = user_pipeline()
    joblib.dump(pipe, tmp_path / "fraud.joblib")
    first = register_fitted(db, store, "fraud", str(tmp_path / "fraud.joblib"))
    with fsspec.open("memory://driftline-tests/users/spam.pkl", "wb") as f:
        f.write(pickle.dumps(pipe))
    try:
        second = register_fitted(db, store, "spam", "memory://driftline-tests/users/spam.pkl",
                                 features="country:category,amount:number,n_items:integer")
    finally:
        fsspec.filesystem("memory").rm("/driftline-tests/users/spam.pkl")
    full = events(100, seed=13)
    for record in (first, second):
        model = store.load(record.artifact_uri, record.sha256, model_id=record.model_id)
        assert model.predict_many([e.features for e in full]) == pipe.predict(frame_of(full)[0]).tolist()
    assert second.features == ["country", "amount", "n_items"]


def test_a_model_with_a_champion_keeps_it_unless_replaced(db: Registry, store: ArtifactStore,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "fraud.pkl"
    path.write_bytes(pickle.dumps(user_pipeline()))
    first = register_fitted(db, store, "fraud", str(path))
    files = store.files()
    with pytest.raises(RegistryError, match=r"model 'fraud' has a champion already \(v1\); --replace"):
        register_fitted(db, store, "fraud", str(path))
    assert store.files() == files and db.champion("fraud") == first  # nothing stored, nothing changed
    again = register_fitted(db, store, "fraud", str(path), replace=True)
    assert (again.version, again.parent_version, db.champion("fraud").version) == ("2", "1", "2")
    assert [v.status for v in db.versions("fraud")] == ["archived", "champion"]


@pytest.mark.parametrize("content, message", [
    (None, "{path} cannot be read: No such file or directory"),
    (b"not a pickle at all", "{path} is neither a pickle nor a joblib file: "),
    (pickle.dumps({"weights": [1, 2]}), "{path} holds a dict, which has neither predict() nor "
                                        "predict_one()/predict_many()"),
    (pickle.dumps(DummyClassifier().fit([[0], [1]], [0, 1])),
     "cannot tell which features the DummyClassifier in {path} reads (it was not fitted on a "
     "DataFrame); give them with --features"),
])
def test_what_cannot_be_used_is_one_line_and_stores_nothing(db: Registry, store: ArtifactStore, tmp_path: Path,
                                                            content: bytes | None, message: str) -> None:
    path = tmp_path / "model.pkl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ExternalModelError) as caught:
        register_fitted(db, store, "fraud", str(path))
    text = str(caught.value)
    assert text.startswith(message.format(path=path)) and "\n" not in text
    assert db.versions("fraud") == [] and store.files() == []


def test_bad_features_are_one_line(db: Registry, store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(user_pipeline()))
    with pytest.raises(ExternalModelError, match="feature 'amount:text': the type must be one of"):
        register_fitted(db, store, "fraud", str(path), features="amount:text")
    assert db.versions("fraud") == []


def test_the_next_retrain_is_gated_against_the_registered_champion(db: Registry, store: ArtifactStore,
                                                                   tmp_path: Path) -> None:
    settings = Settings(min_train_examples=200, train_timeout_s=120)
    # A weak model of the user's own (always the most frequent class): a trained challenger beats it.
    df, y = frame_of(events(300, seed=21))
    weak = tmp_path / "weak.pkl"
    weak.write_bytes(pickle.dumps(DummyClassifier(strategy="most_frequent").fit(df, y)))
    registered = register_fitted(db, store, "fraud", str(weak))
    window = events(600, seed=22)
    first = retrain(RetrainRequest("q1", "fraud", ["a1"], 0, 1), labeled_frame(
        [e.__class__(**{**e.to_dict(), "model_id": "fraud"}) for e in window]), db, store, settings,
        trainer_spec=f"{ZOO}:column_pipeline")
    assert first.status == "champion", first.reason
    assert first.parent_version == registered.version == "1" and first.version == "2"
    weak_model = store.load(registered.artifact_uri, registered.sha256, model_id="fraud")
    # The gate scored the registered model on the challenger's holdout, as it would any champion.
    assert first.metrics["champion_holdout_accuracy"] < first.metrics["holdout_accuracy"]
    assert first.metrics["champion_holdout_accuracy"] == pytest.approx(
        accuracy(weak_model, window[-first.metrics["n_holdout"]:]), abs=0.05)
    assert db.champion("fraud").version == "2"

    # A strong model of the user's own keeps its place: the challenger must beat it by the margin.
    strong = tmp_path / "strong.pkl"
    strong.write_bytes(pickle.dumps(user_pipeline()))
    register_fitted(db, store, "spam", str(strong))
    spam = [e.__class__(**{**e.to_dict(), "model_id": "spam"}) for e in window[:250]]
    second = retrain(RetrainRequest("q2", "spam", ["a2"], 0, 1), labeled_frame(spam), db, store,
                     settings.replace(gate_margin=0.05), trainer_spec=f"{ZOO}:column_pipeline")
    assert second.status == "rejected", second.reason
    assert db.champion("spam").version == "1" and db.champion("spam").trainer == TRAINER

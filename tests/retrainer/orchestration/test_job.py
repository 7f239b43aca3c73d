"""retrain(): from a frame of examples to a registered, gated version."""

from __future__ import annotations

import pandas as pd
import pytest

from driftline.contract import RetrainRequest
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.exceptions import TrainerLoadError
from driftline.retrainer.orchestration.job import labeled_frame, retrain
from driftline.retrainer.persistence.registry import Registry
from driftline.settings import Settings
from tests.retrainer.streams import labeled_events

SETTINGS = Settings(min_train_examples=200, holdout_fraction=0.3, gate_margin=0.01)


def request(request_id: str, model_id: str = "m") -> RetrainRequest:
    return RetrainRequest(request_id=request_id, model_id=model_id, alert_ids=[f"alert-{request_id}"],
                          since_ts=1_000, ts=5_000)


def frame(stream: str = "agrawal0", n: int = 1000, seed: int = 7) -> pd.DataFrame:
    return labeled_frame(labeled_events(stream, n, seed=seed))


def exploding_trainer(df: pd.DataFrame, features: list[str], label: str = "label") -> object:
    raise RuntimeError("out of memory (simulated)")


class Constant:
    def __init__(self, answer: object) -> None:
        self.answer = answer

    def predict_one(self, x: dict) -> object:
        return self.answer

    def predict_many(self, rows: list[dict]) -> list:
        return [self.answer for _ in rows]


def always_one(df: pd.DataFrame, features: list[str], label: str = "label") -> Constant:
    return Constant(1)


def test_first_version_becomes_champion(registry: Registry, store: ArtifactStore) -> None:
    examples = frame()
    record = retrain(request("q1"), examples, registry, store, SETTINGS)
    assert (record.version, record.status, record.parent_version) == ("1", "champion", None)
    assert record.reason.startswith("promoted:") and "no champion" in record.reason
    assert record.alert_ids == ["alert-q1"] and record.request_id == "q1"
    assert record.features == ["age", "car", "commission", "elevel", "hvalue", "hyears", "loan",
                               "salary", "zipcode"]
    m = record.metrics
    assert (m["n_train"], m["n_holdout"], m["n_examples"]) == (700, 300, 1000)
    assert m["holdout_accuracy"] > 0.95 > m["baseline_accuracy"]
    assert m["champion_holdout_accuracy"] is None
    assert record.window == {"topic": None, "since_ts": 1_000, "first_ts": 1_000, "until_ts": 1_999,
                             "n_examples": 1000,
                             "offsets": {}}
    model = store.load(record.artifact_uri, record.sha256)
    holdout = examples.iloc[700:]
    features = record.features
    hits = sum(p == y for p, y in zip(model.predict_many(holdout[features].to_dict("records")),
                                      holdout["label"]))
    assert hits / 300 == m["holdout_accuracy"]
    assert registry.champion("m") == record


def test_a_challenger_no_better_than_the_champion_is_rejected(registry: Registry, store: ArtifactStore) -> None:
    champion = retrain(request("q1"), frame(), registry, store, SETTINGS)
    # The same concept again: the champion is already perfect, no room for the margin.
    record = retrain(request("q2"), frame(seed=8), registry, store, SETTINGS)
    assert (record.version, record.status, record.parent_version) == ("2", "rejected", "1")
    assert "is not above the champion's" in record.reason
    assert record.metrics["champion_holdout_accuracy"] >= record.metrics["holdout_accuracy"]
    assert record.artifact_uri is None and record.sha256 is None
    assert registry.champion("m") == champion
    assert len(list(store.root.rglob("*.pkl"))) == 1


def test_after_a_concept_change_the_challenger_takes_over(registry: Registry, store: ArtifactStore) -> None:
    retrain(request("q1"), frame("agrawal0"), registry, store, SETTINGS)
    record = retrain(request("q2"), frame("agrawal2"), registry, store, SETTINGS)
    assert (record.version, record.status, record.parent_version) == ("2", "champion", "1")
    assert record.metrics["holdout_accuracy"] >= record.metrics["champion_holdout_accuracy"] + 0.1
    assert [v.status for v in registry.versions("m")] == ["archived", "champion"]


def test_too_few_examples(registry: Registry, store: ArtifactStore) -> None:
    record = retrain(request("q1"), frame(n=150), registry, store, SETTINGS)
    assert record.status == "rejected"
    assert record.reason == "rejected: the window holds 150 labeled examples, at least 200 are needed"
    assert record.metrics["holdout_accuracy"] is None and record.artifact_uri is None


def test_a_single_class(registry: Registry, store: ArtifactStore) -> None:
    examples = frame().assign(label=True)
    record = retrain(request("q1"), examples, registry, store, SETTINGS)
    assert record.status == "rejected"
    assert "every training label is True" in record.reason


def test_a_trainer_that_raises(registry: Registry, store: ArtifactStore) -> None:
    spec = "tests.retrainer.orchestration.test_job:exploding_trainer"
    record = retrain(request("q1"), frame(), registry, store, SETTINGS, trainer_spec=spec)
    assert record.status == "rejected" and record.trainer == spec
    assert record.reason == f"rejected: the trainer {spec} raised RuntimeError: out of memory (simulated)"


def test_a_trainer_that_cannot_be_imported_is_a_setup_error(registry: Registry, store: ArtifactStore) -> None:
    with pytest.raises(TrainerLoadError):
        retrain(request("q1"), frame(), registry, store, SETTINGS, trainer_spec="nowhere:fit")
    assert registry.versions("m") == []


def test_a_model_no_better_than_the_majority_is_rejected(registry: Registry, store: ArtifactStore) -> None:
    record = retrain(request("q1"), frame(), registry, store, SETTINGS,
                     trainer_spec="tests.retrainer.orchestration.test_job:always_one")
    assert record.status == "rejected"
    assert "does not beat the majority-class baseline" in record.reason


def test_a_request_is_retrained_once(registry: Registry, store: ArtifactStore) -> None:
    first = retrain(request("q1"), frame(), registry, store, SETTINGS)
    # Redelivered with other data (and a trainer that would fail): the record stands.
    again = retrain(request("q1"), frame(n=10), registry, store, SETTINGS,
                    trainer_spec="tests.retrainer.orchestration.test_job:exploding_trainer")
    assert again == first
    assert len(registry.versions("m")) == 1


def test_an_unloadable_champion_does_not_block_a_good_challenger(
        registry: Registry, store: ArtifactStore) -> None:
    champion = retrain(request("q1"), frame(), registry, store, SETTINGS)
    ArtifactStore.path_of(champion.artifact_uri).write_bytes(b"tampered")
    record = retrain(request("q2"), frame(seed=8), registry, store, SETTINGS)
    assert record.status == "champion"
    assert record.reason.startswith("the champion v1 could not be scored (ArtifactIntegrityError: ")
    assert record.metrics["champion_holdout_accuracy"] is None


def test_the_champion_is_scored_on_its_own_features(registry: Registry, store: ArtifactStore) -> None:
    retrain(request("q1"), frame(), registry, store, SETTINGS)
    # The window lost a feature the champion used, and gained one it never saw.
    changed = frame(seed=8).drop(columns=["age"]).assign(extra=1.0)
    record = retrain(request("q2"), changed, registry, store, SETTINGS)
    assert record.metrics["champion_holdout_accuracy"] is not None
    assert "age" not in record.features and "extra" in record.features


ZOO = "tests.retrainer.trainer_zoo"


def test_the_registration_names_the_trainer_and_its_parameters(registry: Registry, store: ArtifactStore) -> None:
    registry.register_model("m", trainer=f"{ZOO}:nearest_mean", trainer_params={"scale": 2.0})
    record = retrain(request("q1"), frame("sea", 1000), registry, store, SETTINGS,
                     trainer_spec="tests.retrainer.orchestration.test_job:exploding_trainer")  # only the fallback
    assert (record.status, record.trainer, record.trainer_params) == (
        "champion", f"{ZOO}:nearest_mean", {"scale": 2.0})
    model = store.load(record.artifact_uri, record.sha256)
    assert type(model).__name__ == "SklearnAdapter" and model.estimator.scale == 2.0


def test_a_raw_river_estimator_is_fitted_and_stored(registry: Registry, store: ArtifactStore) -> None:
    record = retrain(request("q1"), frame(), registry, store, SETTINGS, trainer_spec=f"{ZOO}:river_tree",
                     trainer_params={"grace_period": 30})
    assert record.status == "champion" and record.metrics["holdout_accuracy"] > 0.9
    assert type(store.load(record.artifact_uri, record.sha256)).__name__ == "RiverAdapter"


def test_the_registration_sets_the_gate_margin(registry: Registry, store: ArtifactStore) -> None:
    retrain(request("q1"), frame("agrawal0"), registry, store, SETTINGS)
    registry.register_model("m", gate_margin=0.9)  # no challenger can gain 90 points
    record = retrain(request("q2"), frame("agrawal2"), registry, store, SETTINGS)
    assert record.status == "rejected" and "plus the margin 0.9000" in record.reason


def test_a_trainer_past_its_time_limit_is_stopped_and_rejected(
        registry: Registry, store: ArtifactStore, tmp_path) -> None:
    import os

    champion = retrain(request("q1"), frame(), registry, store, SETTINGS)
    pid_file = tmp_path / "trainer.pid"
    record = retrain(request("q2"), frame(seed=8), registry, store, SETTINGS.replace(train_timeout_s=2.0),
                     trainer_spec=f"{ZOO}:slow", trainer_params={"pid_file": str(pid_file)})
    assert record.status == "rejected" and record.artifact_uri is None
    assert record.reason == (f"rejected: the trainer {ZOO}:slow did not finish within 2 s "
                             f"(DRIFTLINE_TRAIN_TIMEOUT_S) and was stopped")
    assert registry.champion("m") == champion
    with pytest.raises(ProcessLookupError):  # the trainer's process is gone, not left running
        os.kill(int(pid_file.read_text()), 0)


@pytest.mark.parametrize("trainer, reason", [
    ("dies", f"rejected: the trainer {ZOO}:dies died without an answer (exit code 3)"),
    ("returns_a_string", f"rejected: the trainer {ZOO}:returns_a_string returned no usable model: "
                         f"TypeError: the trainer returned a str, which is neither a model"),
])
def test_a_trainer_that_dies_or_returns_no_model(registry: Registry, store: ArtifactStore,
                                                 trainer: str, reason: str) -> None:
    record = retrain(request("q1"), frame(), registry, store, SETTINGS, trainer_spec=f"{ZOO}:{trainer}")
    assert record.status == "rejected" and record.reason.startswith(reason)


def test_stopping_during_training_records_nothing(registry: Registry, store: ArtifactStore) -> None:
    import threading

    from driftline.retrainer.exceptions import TrainingInterrupted

    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    with pytest.raises(TrainingInterrupted):
        retrain(request("q1"), frame(), registry, store, SETTINGS, trainer_spec=f"{ZOO}:slow", stop=stop)
    assert registry.versions("m") == []


def test_the_reference_profile_is_stored_untouched(registry: Registry, store: ArtifactStore) -> None:
    reference = {"features": {"age": {"quantiles": [20.0, 40.0, 60.0]}}, "n": 700}
    record = retrain(request("q1"), frame(), registry, store, SETTINGS, reference=reference)
    assert record.reference == reference and registry.champion("m").reference == reference


def test_the_gate_is_given_the_registrations_metric_and_margin(
        registry: Registry, store: ArtifactStore, monkeypatch) -> None:
    import driftline.retrainer.orchestration.job as job

    given: list[Settings] = []
    real = job._evaluate

    def spy(examples, features, champion, store_, settings, *rest):
        given.append(settings)
        return real(examples, features, champion, store_, settings, *rest)

    monkeypatch.setattr(job, "_evaluate", spy)
    retrain(request("q1"), frame(), registry, store, SETTINGS)
    registry.register_model("m", gate_metric="f1", gate_margin=0.05)
    retrain(request("q2"), frame(), registry, store, SETTINGS)
    assert [(s.gate_metric, s.gate_margin) for s in given] == [
        (SETTINGS.gate_metric, SETTINGS.gate_margin), ("f1", 0.05)]


class Line:
    """y = 2 x, a regressor."""

    def predict_one(self, x: dict) -> float:
        return 2.0 * x["x"]

    def predict_many(self, rows: list[dict]) -> list:
        return [self.predict_one(r) for r in rows]


def fit_line(df: pd.DataFrame, features: list[str], label: str = "label") -> Line:
    return Line()


def test_a_champion_is_registered_with_its_reference_profile(registry: Registry,
                                                               store: ArtifactStore) -> None:
    from driftline.detectors.profile import ReferenceProfile

    record = retrain(request("q1"), frame(), registry, store, SETTINGS)
    profile = ReferenceProfile.from_dict(record.reference)
    assert "<prediction>" in profile.categorical and profile.n_rows == 1000
    assert profile.performance == {"metric": "accuracy", "value": record.metrics["holdout_accuracy"],
                                   "n": 300}
    assert {"ks", "cusum", "chi2", "mmd"} <= set(profile.calibration)
    rejected = retrain(request("q2"), frame(n=50), registry, store, SETTINGS)
    assert rejected.status == "rejected" and rejected.reference is None


def test_a_regressor_is_registered_with_its_holdout_error(registry: Registry,
                                                           store: ArtifactStore) -> None:
    import numpy as np

    from driftline.detectors.profile import ReferenceProfile

    rng = np.random.default_rng(0)
    x = rng.normal(size=600)
    examples = pd.DataFrame({"event_id": [f"e{i}" for i in range(600)], "ts": np.arange(600),
                             "label": 2.0 * x + rng.normal(scale=0.5, size=600), "x": x})
    record = retrain(request("r1"), examples, registry, store,
                     SETTINGS.replace(gate_metric="mae"), trainer_spec="tests.retrainer.orchestration.test_job:fit_line")
    assert record.status == "champion", record.reason
    m = record.metrics
    assert abs(m["holdout_mae"] - 0.4) < 0.08 and abs(m["holdout_abs_error_std"] - 0.3) < 0.08
    profile = ReferenceProfile.from_dict(record.reference)
    assert profile.numeric == ["x", "<prediction>"] and profile.categorical == []
    assert profile.performance == {"metric": "mae", "value": m["holdout_mae"],
                                   "std": m["holdout_abs_error_std"], "n": 180}


def test_a_promoted_challenger_is_fit_again_on_the_whole_window(registry: Registry,
                                                                store: ArtifactStore) -> None:
    record = retrain(request("q1"), frame(), registry, store, SETTINGS, f"{ZOO}:counted")
    served = store.load(record.artifact_uri, record.sha256)
    assert served.rows == 1000  # holdout included
    m = record.metrics
    assert (m["n_train"], m["n_holdout"], m["n_fit"]) == (700, 300, 1000)
    assert m["holdout_accuracy"] > 0.95  # the figures are those of the fit the gate measured
    assert record.reason.endswith("; then fit again on all 1000 examples of the window")


def test_without_refit_the_fit_the_gate_measured_is_served(registry: Registry,
                                                           store: ArtifactStore) -> None:
    record = retrain(request("q1"), frame(), registry, store, SETTINGS.replace(refit=False),
                     f"{ZOO}:counted")
    assert store.load(record.artifact_uri, record.sha256).rows == 700
    assert record.metrics["n_fit"] == 700 and "fit again" not in record.reason


def test_a_refit_that_fails_leaves_the_gated_fit_to_serve(registry: Registry, store: ArtifactStore) -> None:
    record = retrain(request("q1"), frame(), registry, store, SETTINGS, f"{ZOO}:counted",
                     trainer_params={"fail_above": 800})
    assert record.status == "champion"
    assert store.load(record.artifact_uri, record.sha256).rows == 700
    assert record.metrics["n_fit"] == 700
    assert "; served as gated: fitting it again on all 1000 examples failed (" in record.reason
    assert "1000 rows do not fit (simulated)" in record.reason

"""MLflow both ways, against a real ``mlflow server``: champions mirrored under ``@champion``, pyfunc models loaded."""

from __future__ import annotations

import json
import pickle
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from driftline.contract import RetrainRequest, Topics, decode_model_version
from driftline.retrainer.exceptions import ArtifactSignatureError, ExternalModelError
from driftline.retrainer.learners.pyfunc import PyfuncModel
from driftline.retrainer.orchestration.register import register_fitted
from driftline.retrainer.persistence.artifact_reader import ArtifactReader
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.mlflow_mirror import MlflowMirror
from driftline.retrainer.persistence.registry import Registry
from driftline.settings import Settings
from tests.retrainer.conftest import TEST_KEY
from tests.retrainer.kafka_helpers import collect, publish
from tests.retrainer.learners.test_frame_estimators import events
from tests.retrainer.orchestration.test_register_fitted import frame_of, user_pipeline
from tests.retrainer.orchestration.test_worker import SINCE, work_through
from tests.retrainer.streams import labeled_events


@pytest.fixture
def client(mlflow_uri: str, monkeypatch: pytest.MonkeyPatch):
    import mlflow as _mlflow
    from mlflow import MlflowClient

    # What an MLflow user's process has: the server's URI, and driftline's artifact key to check with.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    monkeypatch.setenv("DRIFTLINE_ARTIFACT_KEY", TEST_KEY.decode())
    _mlflow.set_tracking_uri(mlflow_uri)
    return MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)


@pytest.mark.broker
def test_every_champion_is_mirrored_under_champion_with_its_lineage_and_answers_the_same(
        client, mlflow_uri: str, kafka_settings: Settings, registry: Registry, store: ArtifactStore,
        producer_factory: Callable[[], KafkaProducer], consumer_factory: Callable[..., KafkaConsumer],
        admin_factory: Callable[[], KafkaAdminClient], capsys: pytest.CaptureFixture) -> None:
    import mlflow.pyfunc

    prefix = f"t{uuid.uuid4().hex[:6]}-"
    settings = kafka_settings.replace(min_train_examples=300, retrain_wait_s=1.0, mlflow_tracking_uri=mlflow_uri,
                                      mlflow_model_prefix=prefix, artifact_key=TEST_KEY.decode())
    topics = Topics(settings.topic_prefix)
    producer = producer_factory()
    publish(producer, topics.labeled, labeled_events("agrawal0", 800, start_ts=SINCE))
    request = RetrainRequest(request_id="q1", model_id="m", alert_ids=["a1", "a2"], since_ts=SINCE, ts=SINCE)
    sent = producer.send(topics.retrain_requests, key=request.key, value=request.encode()).get(timeout=30)
    started = time.monotonic()
    work_through(settings, registry, store, admin_factory(), sent)
    retrained_and_mirrored = time.monotonic() - started
    [msg] = collect(consumer_factory(), topics.model_versions, until=lambda m: len(m) >= 1)
    assert decode_model_version(msg.value).status == "champion"
    champion = registry.champion("m")

    version = client.get_model_version_by_alias(f"{prefix}m", "champion")
    tags = version.tags
    assert (tags["driftline.model_id"], tags["driftline.version"], tags["driftline.sha256"]) == (
        "m", champion.version, champion.sha256)
    assert json.loads(tags["driftline.alert_ids"]) == ["a1", "a2"]
    assert tags["driftline.request_id"] == "q1"
    window = json.loads(tags["driftline.window"])
    assert window["offsets"] == champion.window["offsets"] and window["since_ts"] == SINCE
    gate = json.loads(tags["driftline.gate"])
    assert gate == champion.metrics["gate"] and gate  # the gate's figures, as the registry has them
    assert float(tags["driftline.holdout_accuracy"]) == champion.metrics["holdout_accuracy"]

    started = time.monotonic()
    served = mlflow.pyfunc.load_model(f"models:/{prefix}m@champion")
    loaded_in = time.monotonic() - started
    rows = [e.features for e in labeled_events("agrawal0", 300, seed=99)]
    started = time.monotonic()
    own = store.load(champion.artifact_uri, champion.sha256, model_id="m")
    own_load = time.monotonic() - started
    started = time.monotonic()
    ours = own.predict_many(rows)
    own_predict = time.monotonic() - started
    started = time.monotonic()
    theirs = list(served.predict(pd.DataFrame(rows)))
    predicted_in = time.monotonic() - started
    assert theirs == ours and len(set(ours)) == 2

    # A rollback by hand moves the alias back to the MLflow version already logged for that champion.
    registry.register("m", status="champion", parent_version=champion.version, request_id="q2", alert_ids=["a3"],
                      window={}, metrics={}, artifact_uri=champion.artifact_uri, sha256=champion.sha256,
                      reason="promoted: again", trainer="t", features=champion.features)
    mirror = MlflowMirror.from_settings(settings)
    started = time.monotonic()
    second = mirror.sync(registry, "m")
    logged_in = time.monotonic() - started
    assert second != version.version
    registry.rollback("m", reason="rolled back by hand")
    started = time.monotonic()
    assert mirror.sync(registry, "m") == version.version
    moved_in = time.monotonic() - started
    assert client.get_model_version_by_alias(f"{prefix}m", "champion").version == version.version
    assert len(client.search_model_versions(f"name = '{prefix}m'")) == 2
    with capsys.disabled():
        print(f"\nMLflow round trip: retrain + publish + mirror {retrained_and_mirrored:.1f} s; mirroring a "
              f"new champion {logged_in:.2f} s, moving the alias back {moved_in:.2f} s; load "
              f"models:/…@champion {loaded_in:.2f} s (driftline's own load {own_load:.3f} s); 300 "
              f"predictions {predicted_in * 1000:.0f} ms (driftline's {own_predict * 1000:.0f} ms)")


def test_a_pyfunc_model_from_the_mlflow_registry_becomes_the_champion(
        client, mlflow_uri: str, registry: Registry, store: ArtifactStore) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    pipe = user_pipeline()
    df, _ = frame_of(events(50))
    name = f"users-{uuid.uuid4().hex[:6]}"
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(pipe, name="model", signature=infer_signature(df, pipe.predict(df)),
                                 registered_model_name=name,
                                 serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE)
    client.set_registered_model_alias(name, "prod", "1")

    by_alias = register_fitted(registry, store, "fraud", f"models:/{name}@prod", mlflow_tracking_uri=mlflow_uri)
    by_run = register_fitted(registry, store, "spam", f"runs:/{run.info.run_id}/model",
                             mlflow_tracking_uri=mlflow_uri)
    assert by_alias.features == ["amount", "n_items", "country"]  # from the model's signature
    assert by_alias.window["format"] == "mlflow" and by_alias.window["origin"] == "user-supplied"
    for record in (by_alias, by_run):
        model = store.load(record.artifact_uri, record.sha256, model_id=record.model_id)
        assert isinstance(model, PyfuncModel)
        # Rows as a service sends them: dicts, an integer column given as int, a missing value.
        rows = [{k: v for k, v in r.items() if not (isinstance(v, float) and v != v)}
                for r in frame_of(events(120, seed=5))[0].to_dict("records")]
        assert model.predict_many(rows) == pipe.predict(pd.DataFrame(
            [{c: r.get(c, float("nan")) for c in ("amount", "n_items", "country")} for r in rows])).tolist()
    # Signed like any artifact, so a process with another key refuses it before unpacking anything.
    with pytest.raises(ArtifactSignatureError, match="signed with another key"):
        ArtifactReader(b"y" * 32).load(by_alias.artifact_uri, by_alias.sha256)


def test_an_mlflow_model_that_is_not_there_is_one_line(client, mlflow_uri: str, registry: Registry,
                                                         store: ArtifactStore) -> None:
    with pytest.raises(ExternalModelError) as caught:
        register_fitted(registry, store, "fraud", "models:/no-such-model@champion", mlflow_tracking_uri=mlflow_uri)
    text = str(caught.value)
    assert text.startswith("cannot fetch models:/no-such-model@champion from MLflow: ") and "\n" not in text
    assert registry.versions("fraud") == [] and store.files() == []


def test_a_mirror_that_cannot_reach_mlflow_warns_and_leaves_the_champion_alone(
        registry: Registry, store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("mlflow")
    from driftline.broker import free_port

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(user_pipeline()))
    champion = register_fitted(registry, store, "fraud", str(path))
    mirror = MlflowMirror(f"http://127.0.0.1:{free_port()}", ArtifactReader(TEST_KEY))
    assert mirror.sync(registry, "fraud") is None
    assert "the champion was not mirrored to MLflow at http://127.0.0.1:" in caplog.text
    assert registry.champion("fraud") == champion

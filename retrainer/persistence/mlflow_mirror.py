"""Every champion mirrored into an MLflow model registry, under an alias such as ``@champion``.

With ``DRIFTLINE_MLFLOW_TRACKING_URI`` set, the retrainer (and ``driftline
models promote``, ``rollback`` and ``register --from``) calls
:meth:`MlflowMirror.sync` after it announces a version: the model's driftline
champion is logged to MLflow once, as a pyfunc model
(:class:`~driftline.retrainer.learners.pyfunc.DriftlinePyfunc`) named
``DRIFTLINE_MLFLOW_MODEL_PREFIX`` + model id, with its lineage as tags
(``driftline.version``, ``driftline.parent_version``, ``driftline.request_id``,
``driftline.alert_ids``, ``driftline.window``, ``driftline.gate``, the holdout
figures, ``driftline.reason``, ``driftline.sha256``), and the alias
(``DRIFTLINE_MLFLOW_ALIAS``, default ``champion``) is moved to it. A champion
restored by a rollback moves the alias back to the MLflow version logged for
it before. So ``mlflow.pyfunc.load_model("models:/fraud@champion")`` serves
what driftline serves, and answers the same for the same rows.

The driftline registry stays the source of truth: a mirror that fails (MLflow
down) logs a warning and is caught up at the next sync, which compares the
alias with the champion first. The artifact is checked (sha256 and signature)
before it is mirrored.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from driftline.retrainer.persistence.artifact_reader import ArtifactReader, read_bytes
from driftline.retrainer.persistence.records import VersionRecord

log = logging.getLogger(__name__)

EXPERIMENT = "driftline"
_MAX_TAG = 5000  # MLflow's limit on a model version tag's value


def _tag(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _MAX_TAG else text[:_MAX_TAG - 1] + "…"


def lineage_tags(record: VersionRecord) -> dict[str, str]:
    """The version's lineage as MLflow tags: why it exists, on what data, with what figures."""
    m = record.metrics or {}
    tags = {
        "driftline.model_id": record.model_id,
        "driftline.version": record.version,
        "driftline.parent_version": record.parent_version or "",
        "driftline.request_id": record.request_id or "",
        "driftline.alert_ids": _tag(list(record.alert_ids)),
        "driftline.window": _tag(record.window or {}),
        "driftline.gate": _tag(m.get("gate") or {}),
        "driftline.reason": _tag(record.status_reason or record.reason),
        "driftline.trainer": _tag(record.trainer),
        "driftline.sha256": record.sha256 or "",
        "driftline.features": _tag(list(record.features)),
    }
    for name in ("holdout_accuracy", "champion_holdout_accuracy", "baseline_accuracy", "holdout_mae",
                 "n_train", "n_holdout"):
        if m.get(name) is not None:
            tags[f"driftline.{name}"] = str(m[name])
    return tags


class MlflowMirror:
    """Mirrors a model's champion into the MLflow registry at ``tracking_uri``; see the module notes."""

    def __init__(self, tracking_uri: str, reader: ArtifactReader, *, prefix: str = "",
                 alias: str = "champion"):
        self.tracking_uri = tracking_uri
        self.prefix = prefix
        self.alias = alias
        self._reader = reader

    @classmethod
    def from_settings(cls, settings: Any) -> MlflowMirror:
        return cls(settings.mlflow_tracking_uri, ArtifactReader.from_settings(settings),
                   prefix=settings.mlflow_model_prefix, alias=settings.mlflow_alias)

    def name_of(self, model_id: str) -> str:
        return f"{self.prefix}{model_id}"

    def sync(self, registry: Any, model_id: str) -> str | None:
        """Point the alias at the MLflow version of ``model_id``'s champion, logging it first if need be.

        Returns that MLflow version, or None if there is no champion to
        mirror or MLflow could not be reached (a warning says why).
        """
        try:
            champion = registry.champion(model_id)
            if champion is None or not champion.artifact_uri or not champion.sha256:
                return None
            return self._sync(champion)
        except Exception as exc:
            why = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            log.warning("model %s: the champion was not mirrored to MLflow at %s (%s); the next sync "
                        "tries again", model_id, self.tracking_uri, why)
            return None

    def _client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def _sync(self, champion: VersionRecord) -> str:
        from mlflow.exceptions import MlflowException

        client, name = self._client(), self.name_of(champion.model_id)
        try:
            client.get_registered_model(name)
        except MlflowException:
            client.create_registered_model(name, description=f"driftline model {champion.model_id}")
        try:
            current = client.get_model_version_by_alias(name, self.alias)
            if (current.tags.get("driftline.version") == champion.version
                    and current.tags.get("driftline.sha256") == champion.sha256):
                return str(current.version)
        except MlflowException:
            pass  # no alias yet
        logged = [mv for mv in client.search_model_versions(
                      f"name = '{name}' and tags.`driftline.version` = '{champion.version}'")
                  if mv.tags.get("driftline.sha256") == champion.sha256]
        version = str(logged[0].version) if logged else self._log(client, name, champion)
        client.set_registered_model_alias(name, self.alias, version)
        log.info("model %s: v%s mirrored to MLflow as %s version %s @%s", champion.model_id,
                 champion.version, name, version, self.alias)
        return version

    def _log(self, client: Any, name: str, champion: VersionRecord) -> str:
        import mlflow.pyfunc

        from driftline.retrainer.learners.pyfunc import ARTIFACT, DriftlinePyfunc

        data = read_bytes(champion.artifact_uri)
        # Checked as a service would before anything leaves for MLflow.
        self._reader.load(champion.artifact_uri, champion.sha256, model_id=champion.model_id)
        tags = lineage_tags(champion)
        experiment = client.get_experiment_by_name(EXPERIMENT)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(EXPERIMENT)
        with tempfile.TemporaryDirectory(prefix="driftline-mirror-") as tmp:
            artifact = Path(tmp) / "driftline.artifact"
            artifact.write_bytes(data)
            folder = Path(tmp) / "model"
            mlflow.pyfunc.save_model(
                path=str(folder),
                python_model=DriftlinePyfunc(champion.model_id, champion.sha256, champion.features),
                artifacts={ARTIFACT: str(artifact)},
                pip_requirements=["driftline"],
                metadata={"driftline_features": list(champion.features),
                          "driftline_version": champion.version})
            run = client.create_run(experiment_id, tags=tags,
                                    run_name=f"{champion.model_id} v{champion.version}")
            client.log_artifacts(run.info.run_id, str(folder), "model")
            client.set_terminated(run.info.run_id)
        mv = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id,
                                         tags=tags, description=_tag(champion.reason))
        return str(mv.version)

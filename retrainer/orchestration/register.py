"""A fitted model its user already has, registered as a model's first champion.

``driftline models register MODEL --from SOURCE`` calls :func:`register_fitted`:
the model is read (:func:`~driftline.retrainer.learners.external.load_external`),
stored as a signed artifact, and registered as the champion with no parent,
its window saying it is user-supplied (``origin``), where it came from
(``source``) and the sha256 of what was read there (``source_sha256``). From then on it is a champion like any
other: the monitor watches it, and the next retrain's challenger is gated
against it.

Examples
--------
>>> import pickle, tempfile
>>> from pathlib import Path
>>> from driftline.retrainer.persistence.artifacts import ArtifactStore
>>> from driftline.retrainer.persistence.registry import Registry
>>> from driftline.retrainer.learners.model import RiverClassifier
>>> from river import tree
>>> tmp = Path(tempfile.mkdtemp())
>>> _ = (tmp / "model.pkl").write_bytes(pickle.dumps(RiverClassifier(
...     tree.HoeffdingTreeClassifier(), {"x": "number"}, classes=[0, 1], kind="tree")))
>>> registry, store = Registry("sqlite://"), ArtifactStore(tmp / "artifacts", key=b"k" * 32)
>>> record = register_fitted(registry, store, "fraud", str(tmp / "model.pkl"), features="x")
>>> record.version, record.status, record.features, record.trainer
('1', 'champion', ['x'], 'registered by hand')
>>> register_fitted(registry, store, "fraud", str(tmp / "model.pkl"), features="x")
Traceback (most recent call last):
...
driftline.retrainer.exceptions.RegistryError: model 'fraud' has a champion already (v1); --replace makes the model from ... its champion instead
>>> registry.close()
"""

from __future__ import annotations

from driftline.retrainer.exceptions import RegistryError
from driftline.retrainer.learners.external import load_external
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.records import VersionRecord
from driftline.retrainer.persistence.registry import Registry

TRAINER = "registered by hand"
# How a version's lineage says it was not trained by driftline (its window names the source).
ORIGIN = "user-supplied"


def register_fitted(registry: Registry, store: ArtifactStore, model_id: str, source: str, *,
                    features: str = "", replace: bool = False,
                    mlflow_tracking_uri: str = "") -> VersionRecord:
    """Store the fitted model at ``source`` and register it as the champion of ``model_id``.

    A model that has a champion already keeps it unless ``replace``. Raises
    :class:`~driftline.retrainer.exceptions.ExternalModelError` if the model
    cannot be read or used, :class:`~driftline.retrainer.exceptions.RegistryError`
    if it may not be registered; both with one line, and nothing stored.
    """
    if not model_id:
        raise RegistryError("a model needs a non-empty model_id")
    champion = registry.champion(model_id)
    if champion is not None and not replace:
        raise RegistryError(f"model {model_id!r} has a champion already (v{champion.version}); --replace "
                            f"makes the model from {source} its champion instead")
    external = load_external(source, features, mlflow_tracking_uri=mlflow_tracking_uri)
    uri, sha = store.put_payload(model_id, "registered", external.payload, fmt=external.fmt)
    try:
        record = registry.register(
            model_id, status="champion", parent_version=champion.version if champion else None,
            request_id=None, alert_ids=[], window={"origin": ORIGIN, "source": source, "source_sha256": external.source_sha256,
                    "format": external.fmt}, metrics={}, artifact_uri=uri,
            sha256=sha, reason=f"registered by hand from {source}", trainer=TRAINER,
            features=external.features)
    except BaseException:
        store.remove(uri)
        raise
    return record

"""A fitted model its user already has, made ready to be registered as a champion.

``driftline models register MODEL --from SOURCE`` takes:

- a pickle or joblib file (a local path or any fsspec URL) holding a
  scikit-learn-style estimator fitted on a DataFrame (a ``Pipeline``, LightGBM,
  ...), or a driftline model (``predict_one``/``predict_many``);
- an MLflow model: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``,
  ``runs:/RUN/PATH``, or a local MLflow model folder (one with an ``MLmodel``
  file), loaded as a pyfunc (:class:`~driftline.retrainer.learners.pyfunc.PyfuncModel`).

A pickle runs code when it is loaded: this unpickles the file the user names,
once, here. What is stored is then driftline's own signed artifact, and
every later load checks its signature first.

The features the model reads come from ``--features`` (``name`` or
``name:type``, with a type of ``number``, ``integer``, ``bool`` or
``category``), else from the estimator (``feature_names_in_``, which
scikit-learn sets when fitted on a DataFrame) or the MLflow signature. A
feature without a type is read as a number when every value asked about is
one, as a string otherwise.

Examples
--------
>>> parse_features("amount:number, country:category,n_items")
(['amount', 'country', 'n_items'], {'amount': 'number', 'country': 'category', 'n_items': 'auto'})
>>> parse_features("amount:text")
Traceback (most recent call last):
...
driftline.retrainer.exceptions.ExternalModelError: feature 'amount:text': the type must be one of number, integer, bool, category
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import pickle
import tempfile
from pathlib import Path
from typing import Any

from driftline.retrainer.exceptions import ArtifactIntegrityError, ExternalModelError
from driftline.retrainer.learners.frame_adapter import AUTO, BOOL, CATEGORY, INTEGER, NUMBER, FrameAdapter
_TYPES = (NUMBER, INTEGER, BOOL, CATEGORY)


@dataclasses.dataclass
class ExternalModel:
    """What ``register --from`` stores: the model, its artifact's payload and format, its features."""

    model: Any
    payload: bytes
    fmt: str  # "pickle" | "mlflow"
    features: list[str]
    source: str
    source_sha256: str = ""  # of the file (or packed MLflow folder) as read from the source


def parse_features(text: str) -> tuple[list[str], dict[str, str]]:
    """``"a:number,b"`` as the names in order and each one's type (``auto`` when not given)."""
    names, types = [], {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, kind = part.partition(":")
        kind = kind.strip() if sep else AUTO
        if not name.strip() or (kind != AUTO and kind not in _TYPES):
            raise ExternalModelError(f"feature {part!r}: the type must be one of {', '.join(_TYPES)}")
        names.append(name.strip())
        types[name.strip()] = kind
    return names, types


def _is_mlflow(source: str) -> bool:
    return source.startswith(("models:/", "runs:/")) or (Path(source).expanduser() / "MLmodel").is_file()


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"


def _unpickle(data: bytes, source: str) -> Any:
    try:
        return pickle.loads(data)
    except Exception as first:
        try:
            import joblib
        except ImportError:
            raise ExternalModelError(f"{source} cannot be unpickled: {_first_line(first)}") from None
        try:
            return joblib.load(io.BytesIO(data))
        except Exception as exc:
            raise ExternalModelError(f"{source} is neither a pickle nor a joblib file: "
                                     f"{_first_line(exc)}") from None


def _fitted(obj: Any, names: list[str], types: dict[str, str], source: str) -> tuple[Any, list[str]]:
    if hasattr(obj, "predict_one") and hasattr(obj, "predict_many"):
        names = names or [str(n) for n in getattr(obj, "features", None) or []]
        if not names:
            raise ExternalModelError(f"cannot tell which features the {type(obj).__name__} in {source} "
                                     f"reads; give them with --features")
        return obj, names
    if not hasattr(obj, "predict"):
        raise ExternalModelError(f"{source} holds a {type(obj).__name__}, which has neither predict() "
                                 f"nor predict_one()/predict_many()")
    if not names:
        names = [str(n) for n in getattr(obj, "feature_names_in_", [])]
        types = dict.fromkeys(names, AUTO)
    if not names:
        raise ExternalModelError(f"cannot tell which features the {type(obj).__name__} in {source} reads "
                                 f"(it was not fitted on a DataFrame); give them with --features")
    return FrameAdapter.fitted(obj, None, names, schema=types), names


def _from_mlflow(source: str, names: list[str], tracking_uri: str) -> ExternalModel:
    try:
        import mlflow.artifacts
    except ImportError:
        raise ExternalModelError(f"{source} is an MLflow model, and mlflow is not installed "
                                 f"(pip install mlflow)") from None
    from driftline.retrainer.learners.pyfunc import load_packed, pack_folder

    with tempfile.TemporaryDirectory(prefix="driftline-mlflow-") as tmp:
        folder = Path(source).expanduser()
        if not (folder / "MLmodel").is_file():
            try:
                folder = Path(mlflow.artifacts.download_artifacts(
                    artifact_uri=source, dst_path=tmp, tracking_uri=tracking_uri or None,
                    registry_uri=tracking_uri or None))
            except Exception as exc:
                why = (str(exc).strip() or type(exc).__name__).splitlines()[0]
                raise ExternalModelError(f"cannot fetch {source} from MLflow: {why}") from None
        payload = pack_folder(folder)
    model = load_packed(payload)
    if names:
        model.features = names
    if not model.features:
        raise ExternalModelError(f"the MLflow model {source} has no input signature naming its "
                                 f"columns; give them with --features")
    return ExternalModel(model, payload, "mlflow", list(model.features), source,
                         hashlib.sha256(payload).hexdigest())


def load_external(source: str, features: str = "", *, mlflow_tracking_uri: str = "") -> ExternalModel:
    """The fitted model at ``source``, ready to store; see the module notes.

    Raises :class:`~driftline.retrainer.exceptions.ExternalModelError` with
    one line when it cannot be read or used.
    """
    names, types = parse_features(features)
    if _is_mlflow(source):
        return _from_mlflow(source, names, mlflow_tracking_uri)
    from driftline.retrainer.persistence.artifact_reader import read_bytes

    uri = source if "://" in source else Path(source).expanduser().resolve().as_uri()
    try:
        data = read_bytes(uri)
    except ArtifactIntegrityError as exc:
        why = str(exc).split(" cannot be read: ", 1)[-1]
        raise ExternalModelError(f"{source} cannot be read: {why}") from None
    model, names = _fitted(_unpickle(data, source), names, types, source)
    try:
        payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise ExternalModelError(f"the model in {source} cannot be stored: {_first_line(exc)}") from None
    return ExternalModel(model, payload, "pickle", names, source, hashlib.sha256(data).hexdigest())

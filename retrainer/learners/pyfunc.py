"""MLflow pyfunc models both ways: one served as a driftline champion, and driftline's champions as pyfunc.

:class:`PyfuncModel` gives an MLflow model (any flavour, loaded with
``mlflow.pyfunc.load_model``) driftline's model interface: the rows become a
DataFrame with the model's input columns in the types its signature names.
Its artifact is the MLflow model folder packed into one file
(:func:`pack_folder`), signed like every other; :func:`load_packed` unpacks it
after the signature holds.

:class:`DriftlinePyfunc` is the other way: the pyfunc an MLflow user loads
from ``models:/NAME@champion`` when driftline mirrors its champions there
(:mod:`~driftline.retrainer.persistence.mlflow_mirror`). It carries the
driftline artifact and checks its sha256 and signature, with the artifact key
of the process that loads it (``DRIFTLINE_ARTIFACT_KEY``), before unpickling it.

mlflow is imported only when one of these is used: ``pip install mlflow``.
"""

from __future__ import annotations

import io
import math
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

try:  # the base class MLflow wants; without mlflow nothing here is used
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - exercised where mlflow is absent
    PythonModel = object

# Where the driftline artifact sits in a mirrored MLflow model.
ARTIFACT = "driftline_artifact"


def pack_folder(folder: Path) -> bytes:
    """An MLflow model folder as one zip, its files in a fixed order (the same folder, the same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return buffer.getvalue()


def load_packed(payload: bytes) -> PyfuncModel:
    """The MLflow model packed in a verified artifact, as a driftline model."""
    import mlflow.pyfunc

    folder = tempfile.TemporaryDirectory(prefix="driftline-mlflow-")
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        for name in zf.namelist():
            if name.startswith("/") or ".." in Path(name).parts:
                raise ValueError(f"the packed MLflow model holds a path outside its folder: {name!r}")
        zf.extractall(folder.name)
    model = PyfuncModel(mlflow.pyfunc.load_model(folder.name))
    model._folder = folder  # some flavours read their files lazily: kept as long as the model lives
    return model


_CASTS = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32",
          "boolean": "bool", "string": "object"}


class PyfuncModel:
    """An MLflow pyfunc model behind driftline's ``predict_one``/``predict_many``."""

    def __init__(self, pyfunc: Any, features: list[str] | None = None):
        self.pyfunc = pyfunc
        schema = None
        try:
            schema = pyfunc.metadata.get_input_schema()
        except AttributeError:
            pass
        self.types: dict[str, str] = {}
        if schema is not None and schema.has_input_names():
            self.types = {spec.name: str(getattr(spec.type, "name", spec.type)) for spec in schema.inputs}
        # A champion driftline mirrored names its features in the model's metadata.
        metadata = getattr(getattr(pyfunc, "metadata", None), "metadata", None) or {}
        self.features = list(features or self.types or metadata.get("driftline_features") or [])

    def frame(self, rows: list[Mapping[str, Any]]) -> pd.DataFrame:
        columns = self.features or sorted({k for r in rows for k in r})
        df = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
        for name, kind in self.types.items():
            dtype = _CASTS.get(kind)
            if name in df.columns and dtype is not None:
                try:
                    df[name] = df[name].astype(dtype)
                except (ValueError, TypeError):
                    pass  # a missing value in an integer column: the model's own schema check says so
        return df

    def predict_many(self, rows: list[Mapping[str, Any]]) -> list:
        if not rows:
            return []
        out = self.pyfunc.predict(self.frame(rows))
        if isinstance(out, pd.DataFrame):
            out = out.iloc[:, 0]
        return [v.item() if hasattr(v, "item") else v for v in np.asarray(out).tolist()]

    def predict_one(self, x: Mapping[str, Any]) -> Any:
        return self.predict_many([x])[0]

    def __getstate__(self) -> dict:
        raise TypeError("an MLflow model is stored as its packed folder, not pickled")

    def __repr__(self) -> str:
        return f"PyfuncModel(features={self.features!r})"


def _plain(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    return v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v


class DriftlinePyfunc(PythonModel):
    """A driftline champion as an MLflow pyfunc: a DataFrame of features in, its answers out.

    Parameters
    ----------
    model_id, sha256
        What the registry recorded for the artifact; checked again on load.
    features
        The columns the model reads, in order (also the pyfunc's input names).
    """

    def __init__(self, model_id: str, sha256: str, features: list[str]):
        self.model_id = model_id
        self.sha256 = sha256
        self.features = list(features)
        self._model: Any = None

    def load_context(self, context: Any) -> None:
        from driftline.retrainer.persistence.artifact_reader import ArtifactReader
        from driftline.settings import Settings

        path = Path(context.artifacts[ARTIFACT]).resolve()
        reader = ArtifactReader.from_settings(Settings.from_env())
        self._model = reader.load(path.as_uri(), self.sha256, model_id=self.model_id)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> list:
        if self._model is None:
            self.load_context(context)
        frame = pd.DataFrame(model_input)
        rows = [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
        return list(self._model.predict_many(rows))

    def __getstate__(self) -> dict:
        # The loaded model is never pickled into MLflow: only what finds and checks the artifact.
        return {"model_id": self.model_id, "sha256": self.sha256, "features": self.features, "_model": None}

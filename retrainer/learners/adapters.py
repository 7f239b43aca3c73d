"""Adapters that turn what a trainer returns into a driftline :class:`~driftline.retrainer.learners.model.Model`.

A trainer may return a ready model (``predict_one`` and ``predict_many``), or
a raw estimator for :func:`as_model` to fit on the training window and wrap:

- a river estimator (``learn_one``/``predict_one``, and ``learn_many`` when it
  offers it) becomes a :class:`RiverAdapter`;
- a scikit-learn-style estimator (``fit``/``predict``, and ``predict_proba``
  when it offers it) becomes a :class:`SklearnAdapter`, fitted on a float
  matrix;
- one that takes a DataFrame (a ``Pipeline``, a ``ColumnTransformer``, a
  LightGBM, XGBoost or CatBoost estimator) becomes a
  :class:`~driftline.retrainer.learners.frame_adapter.FrameAdapter`, fitted
  on the features as named columns in their types; if the trainer fitted it
  already, it is kept as it is.

They are recognised by their methods alone: driftline does not depend on
scikit-learn. Any other estimator is fitted on the window, so a trainer
returns it unfitted (or a fitted adapter, which is a model and is kept as it
is).

Examples
--------
A scikit-learn-style estimator, written here without scikit-learn:

>>> import pandas as pd
>>> class Threshold:
...     def fit(self, X, y):
...         self.cut_ = (X[y == 1, 0].min() + X[y == 0, 0].max()) / 2
...         return self
...     def predict(self, X):
...         return (X[:, 0] > self.cut_).astype(int)
>>> df = pd.DataFrame({"x": [1.0, 2.0, 8.0, 9.0], "label": [0, 0, 1, 1]})
>>> model = as_model(Threshold(), df, ["x"])
>>> model.predict_many([{"x": 1.5}, {"x": 7.0}, {"x": None}])
[0, 1, 0]

A river estimator:

>>> from river import naive_bayes
>>> model = as_model(naive_bayes.GaussianNB(), df, ["x"])
>>> model.predict_many([{"x": 1.5}, {"x": 8.5}]), type(model).__name__
([0, 1], 'RiverAdapter')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from driftline.retrainer.learners.frame_adapter import FrameAdapter, is_fitted, wants_frame
from driftline.retrainer.learners.model import CATEGORY, NUMBER, Model, clean_row, infer_types

__all__ = ["as_model", "FrameAdapter", "RiverAdapter", "SklearnAdapter"]


def _training_rows(df: pd.DataFrame, features: list[str], label: str) -> tuple[list[dict], list, dict]:
    """Cleaned feature rows in time order, the labels, and each feature's type."""
    if "ts" in df.columns:
        df = df.sort_values("ts", kind="stable")
    frame = df.reindex(columns=features)
    types = infer_types({name: frame[name].tolist() for name in features})
    rows = [clean_row(x, types) for x in frame.to_dict("records")]
    return rows, df[label].tolist(), types


class RiverAdapter:
    """A river estimator as a model: fitted row by row, or in one ``learn_many`` when offered.

    ``learn_many`` is used when the estimator has it and every feature is a
    number present in every row, since river's mini-batch learners take a
    numeric frame; otherwise the rows go through ``learn_one`` in time order.
    """

    def __init__(self, estimator: Any):
        self.estimator = estimator
        self.types: dict[str, str] = {}
        self.features: list[str] = []

    def fit(self, df: pd.DataFrame, features: list[str], label: str = "label") -> RiverAdapter:
        rows, labels, self.types = _training_rows(df, features, label)
        self.features = list(features)
        numeric = all(t == NUMBER for t in self.types.values())
        complete = all(len(r) == len(features) for r in rows)
        if hasattr(self.estimator, "learn_many") and numeric and complete and rows:
            self.estimator.learn_many(pd.DataFrame(rows, columns=features), pd.Series(labels))
        else:
            for x, y in zip(rows, labels):
                self.estimator.learn_one(x, y)
        return self

    def predict_one(self, x: Mapping[str, Any]) -> Any:
        return self.estimator.predict_one(clean_row(x, self.types))

    def predict_many(self, rows: list[Mapping[str, Any]]) -> list:
        return [self.predict_one(x) for x in rows]

    def predict_proba_one(self, x: Mapping[str, Any]) -> dict:
        if not hasattr(self.estimator, "predict_proba_one"):
            raise AttributeError(f"{type(self.estimator).__name__} gives no probabilities")
        return dict(self.estimator.predict_proba_one(clean_row(x, self.types)))

    def __repr__(self) -> str:
        return f"RiverAdapter({self.estimator!r}, features={self.features!r})"


class _Encoder:
    """Feature dicts as a float matrix: numbers as they are (missing: the training mean),
    categories one-hot over the values seen in training (unseen: all zeros)."""

    def __init__(self, rows: list[dict], types: Mapping[str, str]):
        self.types = dict(types)
        self.means: dict[str, float] = {}
        self.columns: list[tuple[str, str | None]] = []
        for name, kind in self.types.items():
            if kind == NUMBER:
                present = [float(r[name]) for r in rows if name in r]
                self.means[name] = math.fsum(present) / len(present) if present else 0.0
                self.columns.append((name, None))
            else:
                self.columns.extend((name, v) for v in sorted({r[name] for r in rows if name in r}))
        self._index = {c: i for i, c in enumerate(self.columns)}

    def matrix(self, rows: list[Mapping[str, Any]]) -> np.ndarray:
        out = np.zeros((len(rows), len(self.columns)), dtype=np.float64)
        for i, raw in enumerate(rows):
            x = clean_row(raw, self.types)
            for name, kind in self.types.items():
                if kind == NUMBER:
                    out[i, self._index[(name, None)]] = float(x.get(name, self.means[name]))
                elif (name, x.get(name)) in self._index:
                    out[i, self._index[(name, x[name])]] = 1.0
        return out


class SklearnAdapter:
    """A scikit-learn-style estimator (``fit(X, y)``, ``predict(X)``) as a model.

    Features become a float matrix (see the module notes); predictions come
    back as plain Python values in the labels' type.
    """

    def __init__(self, estimator: Any):
        self.estimator = estimator
        self.features: list[str] = []
        self._encoder: _Encoder | None = None

    def fit(self, df: pd.DataFrame, features: list[str], label: str = "label") -> SklearnAdapter:
        rows, labels, types = _training_rows(df, features, label)
        self.features = list(features)
        self._encoder = _Encoder(rows, types)
        self.estimator.fit(self._encoder.matrix(rows), np.asarray(labels))
        return self

    def _matrix(self, rows: list[Mapping[str, Any]]) -> np.ndarray:
        if self._encoder is None:
            raise RuntimeError("the adapter has not been fitted")
        return self._encoder.matrix(rows)

    def predict_many(self, rows: list[Mapping[str, Any]]) -> list:
        if not rows:
            return []
        return np.asarray(self.estimator.predict(self._matrix(rows))).tolist()

    def predict_one(self, x: Mapping[str, Any]) -> Any:
        return self.predict_many([x])[0]

    def predict_proba_many(self, rows: list[Mapping[str, Any]]) -> list[dict]:
        if not hasattr(self.estimator, "predict_proba"):
            raise AttributeError(f"{type(self.estimator).__name__} gives no probabilities")
        probabilities = np.asarray(self.estimator.predict_proba(self._matrix(rows)))
        classes = np.asarray(getattr(self.estimator, "classes_", range(probabilities.shape[1]))).tolist()
        return [dict(zip(classes, p.tolist())) for p in probabilities]

    def predict_proba_one(self, x: Mapping[str, Any]) -> dict:
        return self.predict_proba_many([x])[0]

    def __repr__(self) -> str:
        return f"SklearnAdapter({self.estimator!r}, features={self.features!r})"


class _OneByOne:
    """A model with only ``predict_one``, given ``predict_many``."""

    def __init__(self, model: Any):
        self.model = model

    def predict_one(self, x: Mapping[str, Any]) -> Any:
        return self.model.predict_one(x)

    def predict_many(self, rows: list[Mapping[str, Any]]) -> list:
        return [self.model.predict_one(x) for x in rows]


def as_model(obj: Any, df: pd.DataFrame, features: list[str], label: str = "label") -> Model:
    """What a trainer returned, as a model; a raw estimator is fitted on ``df`` first.

    Raises :class:`TypeError` for anything that is neither a model nor an estimator.
    """
    if isinstance(obj, (RiverAdapter, SklearnAdapter, FrameAdapter, _OneByOne)):
        return obj
    if hasattr(obj, "learn_one") and hasattr(obj, "predict_one"):
        return RiverAdapter(obj).fit(df, features, label)
    if hasattr(obj, "fit") and hasattr(obj, "predict") and wants_frame(obj):
        if is_fitted(obj):
            return FrameAdapter.fitted(obj, df, features)
        return FrameAdapter(obj).fit(df, features, label)
    if hasattr(obj, "fit") and hasattr(obj, "predict"):
        return SklearnAdapter(obj).fit(df, features, label)
    if hasattr(obj, "predict_one") and hasattr(obj, "predict_many"):
        return obj
    if hasattr(obj, "predict_one"):
        return _OneByOne(obj)
    raise TypeError(f"the trainer returned a {type(obj).__name__}, which is neither a model "
                    f"(predict_one, predict_many) nor an estimator (learn_one/predict_one, or fit/predict)")

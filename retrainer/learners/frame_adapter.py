"""Estimators that take a pandas DataFrame: a scikit-learn Pipeline, a ColumnTransformer, LightGBM, XGBoost.

Such an estimator selects its columns by name (``ColumnTransformer([("num",
StandardScaler(), ["amount"]), ...])``) or reads their dtypes (LightGBM's
categorical columns), so it cannot be fed the float matrix of
:class:`~driftline.retrainer.learners.adapters.SklearnAdapter`.
:class:`FrameAdapter` fits it on a DataFrame with the window's features as
named columns in the types they came in, and asks it with one made the same
way from the rows a service predicts on, so the two always agree.

Each feature's type is fixed at fit from its training values
(:func:`column_types`): ``integer`` or ``number`` (NaN where missing or not
a number), ``bool``, or ``category`` (strings; NaN where missing). LightGBM,
XGBoost and CatBoost read categories as pandas ``category`` columns whose
categories are those seen in training; everything else gets them as
strings (``object``), as pandas reads them from a file.

Examples
--------
>>> import pandas as pd
>>> from sklearn.compose import ColumnTransformer
>>> from sklearn.linear_model import LogisticRegression
>>> from sklearn.pipeline import Pipeline
>>> from sklearn.preprocessing import OneHotEncoder
>>> df = pd.DataFrame({"amount": [1.0, 2.0, 8.0, 9.0] * 10, "country": ["NL", "DE"] * 20,
...                    "label": [0, 0, 1, 1] * 10})
>>> pipe = Pipeline([("cols", ColumnTransformer([("num", "passthrough", ["amount"]),
...                                              ("cat", OneHotEncoder(handle_unknown="ignore"), ["country"])])),
...                  ("clf", LogisticRegression())])
>>> model = FrameAdapter(pipe).fit(df, ["amount", "country"])
>>> model.schema
{'amount': 'number', 'country': 'category'}
>>> model.predict_many([{"amount": 1.5, "country": "NL"}, {"amount": 8.5, "country": "FR"}])
[0, 1]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

NUMBER, INTEGER, BOOL, CATEGORY = "number", "integer", "bool", "category"
# A feature of a model fitted elsewhere whose type nobody said: numbers if every value is one.
AUTO = "auto"
# Packages whose estimators read pandas' category dtype as categorical features.
_NATIVE_CATEGORIES = ("lightgbm", "xgboost", "catboost")


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NAType", "NaTType")


def column_types(columns: Mapping[str, Sequence[Any]]) -> dict[str, str]:
    """Each column's type from its present values: ``bool``, ``integer``, ``number`` or ``category``.

    >>> column_types({"a": [1, 2, None], "b": [1.5, 2], "c": [True, None], "d": ["x", 3], "e": [None]})
    {'a': 'integer', 'b': 'number', 'c': 'bool', 'd': 'category', 'e': 'number'}
    """
    types = {}
    for name, values in columns.items():
        present = [v for v in values if not _missing(v)]
        if present and all(isinstance(v, (bool, np.bool_)) for v in present):
            types[name] = BOOL
        elif all(isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_)) for v in present):
            integral = present and all(isinstance(v, numbers.Integral) for v in present)
            types[name] = INTEGER if integral else NUMBER
        else:
            types[name] = CATEGORY
    return types


def _number(v: Any) -> float:
    if _missing(v) or isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Number):
        return math.nan
    return float(v)


def _column(values: list[Any], kind: str, categories: list[str] | None) -> pd.Series:
    if kind == AUTO:
        numeric = all(_missing(v) or (isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_)))
                      for v in values)
        kind = NUMBER if numeric else CATEGORY
    if kind in (NUMBER, INTEGER):
        numbers_ = np.array([_number(v) for v in values], dtype=np.float64)
        if kind == INTEGER and not np.isnan(numbers_).any() and np.all(numbers_ == np.round(numbers_)):
            return pd.Series(numbers_.astype(np.int64))
        return pd.Series(numbers_)
    if kind == BOOL:
        if all(isinstance(v, (bool, np.bool_)) for v in values):
            return pd.Series(values, dtype=bool)
        return pd.Series([float(v) if isinstance(v, (bool, np.bool_)) else math.nan for v in values])
    strings = [np.nan if _missing(v) else (v if isinstance(v, str) else str(v)) for v in values]
    if categories is None:
        return pd.Series(strings, dtype=object)
    known = set(categories)  # a category unseen in training is missing to the estimator
    return pd.Series(pd.Categorical([s if s in known else np.nan for s in strings], categories=categories))


def wants_frame(estimator: Any) -> bool:
    """Whether ``estimator`` should be given a DataFrame: a Pipeline, a ColumnTransformer, LightGBM and the like, or one fitted on a DataFrame."""
    root = type(estimator).__module__.split(".")[0]
    return (hasattr(estimator, "steps") and hasattr(estimator, "named_steps")
            or hasattr(estimator, "transformers") or root in _NATIVE_CATEGORIES
            or hasattr(estimator, "feature_names_in_"))


def is_fitted(estimator: Any) -> bool:
    """Whether a scikit-learn-style estimator has been fitted already (scikit-learn's own test)."""
    try:
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted
    except ImportError:
        return False
    try:
        check_is_fitted(estimator)
    except (NotFittedError, TypeError):
        return False
    return True


class FrameAdapter:
    """A scikit-learn-style estimator fitted on, and asked with, a DataFrame of the named features.

    Parameters
    ----------
    estimator
        Anything with ``fit(X, y)`` and ``predict(X)`` taking a DataFrame.
    native_categories
        Give categories as pandas ``category`` columns (LightGBM, XGBoost,
        CatBoost); ``None``: whenever the estimator comes from one of those.
    """

    def __init__(self, estimator: Any, *, native_categories: bool | None = None):
        self.estimator = estimator
        root = type(estimator).__module__.split(".")[0]
        self.native_categories = root in _NATIVE_CATEGORIES if native_categories is None else native_categories
        self.features: list[str] = []
        self.schema: dict[str, str] = {}
        self.categories: dict[str, list[str]] = {}

    def _learn_schema(self, df: pd.DataFrame, features: list[str]) -> None:
        self.features = list(features)
        frame = df.reindex(columns=features)
        self.schema = column_types({f: frame[f].tolist() for f in features})
        self.categories = {}
        if self.native_categories:
            for f, kind in self.schema.items():
                if kind == CATEGORY:
                    seen = {v if isinstance(v, str) else str(v) for v in frame[f].tolist() if not _missing(v)}
                    self.categories[f] = sorted(seen)

    def fit(self, df: pd.DataFrame, features: list[str], label: str = "label") -> FrameAdapter:
        if "ts" in df.columns:
            df = df.sort_values("ts", kind="stable")
        self._learn_schema(df, features)
        y = pd.Series(df[label].tolist()).infer_objects().to_numpy()
        self.estimator.fit(self.frame(df.reindex(columns=features).to_dict("records")), y)
        return self

    @classmethod
    def fitted(cls, estimator: Any, df: pd.DataFrame | None, features: list[str], *,
               schema: Mapping[str, str] | None = None) -> FrameAdapter:
        """An estimator fitted already (by a trainer, or by its user), kept as it is.

        The features' types come from ``schema``, else from ``df``, else are
        taken to be numbers.
        """
        adapter = cls(estimator)
        if df is not None:
            adapter._learn_schema(df, features)
        else:
            adapter.features = list(features)
            adapter.schema = {f: NUMBER for f in features}
        if schema is not None:
            adapter.schema.update(schema)
        return adapter

    def frame(self, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """The DataFrame the estimator sees for ``rows``: its features, in their fitted types."""
        return pd.DataFrame({f: _column([r.get(f) for r in rows], kind, self.categories.get(f))
                             for f, kind in self.schema.items()}, columns=self.features)

    def predict_many(self, rows: list[Mapping[str, Any]]) -> list:
        if not rows:
            return []
        return np.asarray(self.estimator.predict(self.frame(rows))).tolist()

    def predict_one(self, x: Mapping[str, Any]) -> Any:
        return self.predict_many([x])[0]

    def predict_proba_many(self, rows: list[Mapping[str, Any]]) -> list[dict]:
        if not hasattr(self.estimator, "predict_proba"):
            raise AttributeError(f"{type(self.estimator).__name__} gives no probabilities")
        probabilities = np.asarray(self.estimator.predict_proba(self.frame(rows)))
        classes = np.asarray(getattr(self.estimator, "classes_", range(probabilities.shape[1]))).tolist()
        return [dict(zip(classes, p.tolist())) for p in probabilities]

    def predict_proba_one(self, x: Mapping[str, Any]) -> dict:
        return self.predict_proba_many([x])[0]

    def __repr__(self) -> str:
        return f"FrameAdapter({self.estimator!r}, features={self.features!r})"

"""Trainers for the tests, importable by spec in the trainer's child process."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd


class NearestMean:
    """A scikit-learn-style classifier without scikit-learn: the class whose mean row is nearest."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def fit(self, X: np.ndarray, y: np.ndarray) -> NearestMean:
        self.classes_ = np.unique(y)
        self.means_ = np.array([X[y == c].mean(axis=0) for c in self.classes_])
        return self

    def _distances(self, X: np.ndarray) -> np.ndarray:
        return ((X[:, None, :] - self.means_[None, :, :]) ** 2).sum(axis=2) * self.scale

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self._distances(X).argmin(axis=1)]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        weights = np.exp(-self._distances(X))
        return weights / weights.sum(axis=1, keepdims=True)


class MiniBatch:
    """A river-style learner that notes whether it was fed one row at a time or in a batch."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.majority = None
        self.seen: list = []

    def learn_one(self, x: dict, y: object) -> None:
        self.calls.append("learn_one")
        self.seen.append(y)

    def learn_many(self, X: pd.DataFrame, y: pd.Series) -> None:
        self.calls.append("learn_many")
        self.seen.extend(y.tolist())

    def predict_one(self, x: dict) -> object:
        return max(set(self.seen), key=self.seen.count)


def nearest_mean(df: pd.DataFrame, features: list[str], label: str = "label", scale: float = 1.0):
    return NearestMean(scale=scale)


def river_tree(df: pd.DataFrame, features: list[str], label: str = "label", grace_period: int = 50):
    from river import tree

    return tree.HoeffdingTreeClassifier(grace_period=grace_period)


def mini_batch(df: pd.DataFrame, features: list[str], label: str = "label"):
    return MiniBatch()


def slow(df: pd.DataFrame, features: list[str], label: str = "label", pid_file: str = "",
         gate_file: str = "", seconds: float = 300.0):
    """Writes its pid to ``pid_file``, then waits while ``gate_file`` exists (or ``seconds``)."""
    if pid_file:
        Path(pid_file).write_text(str(os.getpid()))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (not gate_file or Path(gate_file).exists()):
        time.sleep(0.1)
    from driftline.retrainer.learners.trainers import river_default

    return river_default(df, features, label)


def dies(df: pd.DataFrame, features: list[str], label: str = "label"):
    os._exit(3)


def returns_a_string(df: pd.DataFrame, features: list[str], label: str = "label"):
    return "not a model"


class Counted:
    """The default trainer's model, with the number of rows it was fit on."""

    def __init__(self, model, rows: int) -> None:
        self.model, self.rows = model, rows

    def predict_one(self, x: dict):
        return self.model.predict_one(x)

    def predict_many(self, rows: list[dict]) -> list:
        return self.model.predict_many(rows)


def counted(df: pd.DataFrame, features: list[str], label: str = "label", fail_above: int = 0):
    """The default trainer, noting its rows; with ``fail_above``, it raises on more rows than that."""
    from driftline.retrainer.learners.tabular import fit_default

    if fail_above and len(df) > fail_above:
        raise MemoryError(f"{len(df)} rows do not fit (simulated)")
    return Counted(fit_default(df, features, label=label), len(df))


# ---------------------------------------------------------------- estimators that take a DataFrame


def _column_pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from tests.retrainer.frame_probe import DtypeProbe

    columns = ColumnTransformer([("num", make_pipeline(SimpleImputer(), StandardScaler()), ["amount", "n_items"]),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), ["country"])])
    return Pipeline([("probe", DtypeProbe()), ("columns", columns), ("clf", LogisticRegression(C=10.0))])


def column_pipeline(df: pd.DataFrame, features: list[str], label: str = "label"):
    """An unfitted Pipeline whose ColumnTransformer selects columns by name: driftline fits it."""
    return _column_pipeline()


def fitted_column_pipeline(df: pd.DataFrame, features: list[str], label: str = "label"):
    """The same Pipeline, fitted by the trainer itself on the window as it comes."""
    pipe = _column_pipeline()
    X = df[features].astype({"amount": float, "n_items": float})
    return pipe.fit(X, df[label].astype(int))


def lightgbm(df: pd.DataFrame, features: list[str], label: str = "label", n_estimators: int = 60):
    import lightgbm as lgb

    return lgb.LGBMClassifier(n_estimators=n_estimators, min_child_samples=5, verbose=-1)

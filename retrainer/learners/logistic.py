"""Logistic (softmax) regression fitted in one batch: the default trainer's linear learner.

Numbers are standardised (a missing number is the training mean, so it adds
nothing), categories are one-hot columns (an unseen or missing category is all
zeros). The weights minimise the mean cross-entropy plus ``alpha / 2`` times
their squared norm (the intercepts are not penalised), found by L-BFGS; the
problem is convex, so the answer does not depend on a seed or on row order.

Examples
--------
>>> enc = Design().fit({"x": [0.0, 1.0, 2.0, 3.0] * 50, "c": ["a", "b"] * 100},
...                    {"x": "number", "c": "category"})
>>> X = enc.transform({"x": [0.0, 1.0, 2.0, 3.0] * 50, "c": ["a", "b"] * 100})
>>> X.shape
(200, 3)
>>> model = SoftmaxRegression().fit(X, np.array([0, 0, 1, 1] * 50), n_classes=2)
>>> model.predict_proba(enc.transform({"x": [0.0, 3.0], "c": ["a", None]})).argmax(axis=1).tolist()
[0, 1]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize

# Categories beyond this many per feature share the all-zeros column of "other".
_MAX_CATEGORIES = 100


class Design:
    """Columns to a design matrix: standardised numbers, one-hot categories."""

    def fit(self, columns: Mapping[str, Sequence[Any]], types: Mapping[str, str]) -> Design:
        self.features = list(types)
        self._stats: dict[str, tuple[float, float]] = {}
        self._levels: dict[str, dict[str, int]] = {}
        width = 0
        for name in self.features:
            if types[name] == "number":
                x = np.asarray(columns[name], dtype=np.float64)
                x = x[~np.isnan(x)]
                mean = float(x.mean()) if len(x) else 0.0
                std = float(x.std()) if len(x) else 0.0
                self._stats[name] = (mean, std if std > 0 else 1.0)
                width += 1
            else:
                counts: dict[str, int] = {}
                for v in columns[name]:
                    if v is not None:
                        counts[v] = counts.get(v, 0) + 1
                top = sorted(counts, key=lambda c: (-counts[c], c))[:_MAX_CATEGORIES]
                self._levels[name] = {c: i for i, c in enumerate(top)}
                width += len(top)
        self.width = width
        return self

    def transform(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        n = next((len(columns[f]) for f in self.features if columns.get(f) is not None), 0)
        X = np.zeros((n, self.width))
        j = 0
        for name in self.features:
            values = columns.get(name)
            if name in self._stats:
                if values is not None:
                    mean, std = self._stats[name]
                    x = np.asarray(values, dtype=np.float64)
                    X[:, j] = np.where(np.isnan(x), 0.0, (x - mean) / std)
                j += 1
            else:
                levels = self._levels[name]
                if values is not None:
                    codes = np.array([levels.get(v, -1) for v in values], dtype=np.int64)
                    hit = codes >= 0
                    X[np.flatnonzero(hit), j + codes[hit]] = 1.0
                j += len(levels)
        return X


class SoftmaxRegression:
    """Multinomial logistic regression with an L2 penalty ``alpha`` (default 1e-3)."""

    def __init__(self, alpha: float = 1e-3, max_iter: int = 300):
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.alpha = alpha
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, y: np.ndarray, n_classes: int) -> SoftmaxRegression:
        n, p = X.shape
        K = n_classes
        Y = np.zeros((n, K))
        Y[np.arange(n), y] = 1.0
        Xb = np.hstack([X, np.ones((n, 1))])
        penalty = np.ones((p + 1, 1))
        penalty[-1] = 0.0  # the intercept is free

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            W = w.reshape(p + 1, K)
            Z = Xb @ W
            Z -= Z.max(axis=1, keepdims=True)
            logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
            value = -(Y * logp).sum() / n + 0.5 * self.alpha * ((W * penalty) ** 2).sum()
            grad = Xb.T @ (np.exp(logp) - Y) / n + self.alpha * W * penalty
            return value, grad.ravel()

        result = minimize(loss, np.zeros((p + 1) * K), jac=True, method="L-BFGS-B",
                          options={"maxiter": self.max_iter})
        self.coef_ = result.x.reshape(p + 1, K)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        Z = X @ self.coef_[:-1] + self.coef_[-1]
        Z -= Z.max(axis=1, keepdims=True)
        P = np.exp(Z)
        return P / P.sum(axis=1, keepdims=True)

"""Running summaries for metric snapshots: per-feature statistics and rolling accuracy.

>>> import numpy as np
>>> s = FeatureSummary(["a", "b"])
>>> s.update_numeric(np.array([[1.0, np.nan], [3.0, 4.0]]))
>>> s.snapshot()["a"]
{'count': 2, 'missing_rate': 0.0, 'mean': 2.0, 'std': 1.0}
>>> r = RollingAccuracy(window=3)
>>> r.update([1, 1, 0, 0])
>>> round(r.value, 3)
0.333
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence

import numpy as np


class FeatureSummary:
    """Count, missing rate, mean and std of numeric features; top categories of the others.

    Reset after each snapshot, so a snapshot describes one metrics interval.
    """

    def __init__(self, numeric: Sequence[str], categorical: Sequence[str] = (), top: int = 5) -> None:
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.top = top
        self._reset()

    def _reset(self) -> None:
        d = len(self.numeric)
        self._n_num = 0
        self._count = np.zeros(d)
        self._sum = np.zeros(d)
        self._sumsq = np.zeros(d)
        self._n_cat = 0
        self._cats: list[Counter] = [Counter() for _ in self.categorical]
        self._cat_missing = np.zeros(len(self.categorical))

    def update_numeric(self, X: np.ndarray) -> None:
        if X.size == 0:
            return
        present = ~np.isnan(X)
        Z = np.where(present, X, 0.0)
        self._n_num += X.shape[0]
        self._count += present.sum(axis=0)
        self._sum += Z.sum(axis=0)
        self._sumsq += (Z * Z).sum(axis=0)

    def update_categorical(self, C: np.ndarray) -> None:
        if C.size == 0:
            return
        self._n_cat += C.shape[0]
        for j, counter in enumerate(self._cats):
            column = C[:, j]
            missing = sum(v is None for v in column)
            self._cat_missing[j] += missing
            counter.update(v for v in column if v is not None)

    def state_dict(self) -> dict:
        """Plain data to go on from (see :meth:`load_state_dict`)."""
        return {"n_num": self._n_num, "count": self._count.copy(), "sum": self._sum.copy(),
                "sumsq": self._sumsq.copy(), "n_cat": self._n_cat,
                "cats": [dict(c) for c in self._cats], "cat_missing": self._cat_missing.copy()}

    def load_state_dict(self, state: dict) -> None:
        d, k = len(self.numeric), len(self.categorical)
        arrays = [np.asarray(state[n], dtype=np.float64) for n in ("count", "sum", "sumsq")]
        if any(a.shape != (d,) for a in arrays) or len(state["cats"]) != k:
            raise ValueError(f"a summary of other columns than {self.numeric + self.categorical}")
        self._n_num, self._n_cat = int(state["n_num"]), int(state["n_cat"])
        self._count, self._sum, self._sumsq = (a.copy() for a in arrays)
        self._cats = [Counter(c) for c in state["cats"]]
        self._cat_missing = np.asarray(state["cat_missing"], dtype=np.float64).copy()

    def snapshot(self, reset: bool = True) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for j, name in enumerate(self.numeric):
            n = int(self._count[j])
            mean = self._sum[j] / n if n else None
            var = max(self._sumsq[j] / n - mean * mean, 0.0) if n else None
            out[name] = {
                "count": n,
                "missing_rate": _rate(self._n_num - n, self._n_num),
                "mean": None if mean is None else round(float(mean), 6),
                "std": None if var is None else round(float(np.sqrt(var)), 6),
            }
        for j, name in enumerate(self.categorical):
            counter = self._cats[j]
            total = sum(counter.values())
            out[name] = {
                "count": total,
                "missing_rate": _rate(int(self._cat_missing[j]), self._n_cat),
                "top": {str(k): round(v / total, 4) for k, v in counter.most_common(self.top)},
                "distinct": len(counter),
            }
        if reset:
            self._reset()
        return out


def _rate(part: float, whole: float) -> float | None:
    return round(float(part) / whole, 6) if whole else None


class RollingAccuracy:
    """The share of correct predictions among the last ``window`` labeled ones."""

    def __init__(self, window: int = 1000) -> None:
        self.window = window
        self._reset()

    def _reset(self) -> None:
        self._items: deque[int] = deque(maxlen=self.window)
        self._correct = 0

    def update(self, correct: Iterable[int]) -> None:
        items = self._items
        for c in correct:
            c = int(c)
            if len(items) == items.maxlen:
                self._correct -= items[0]
            items.append(c)
            self._correct += c

    def reset(self) -> None:
        self._reset()

    def state_dict(self) -> dict:
        return {"window": self.window, "items": list(self._items)}

    def load_state_dict(self, state: dict) -> None:
        self.window = int(state["window"])
        self._items = deque((int(v) for v in state["items"]), maxlen=self.window)
        self._correct = sum(self._items)

    @property
    def n(self) -> int:
        return len(self._items)

    @property
    def value(self) -> float | None:
        return self._correct / len(self._items) if self._items else None

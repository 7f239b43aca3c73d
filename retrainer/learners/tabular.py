"""The default trainer: a random forest or a logistic regression, whichever validates better.

:func:`fit_default` fits both batch learners of this package on the window:

- a random forest of histogram trees (:mod:`~driftline.retrainer.learners.forest`),
  which learns axis-aligned rules and interactions of numbers and categories;
- a softmax regression (:mod:`~driftline.retrainer.learners.logistic`), which learns a
  linear boundary from fewer rows than any tree needs.

It keeps the one that is more accurate on the newest fifth of the rows: the
regression trained on the older four fifths, the forest judged out of bag
(each row by the trees that did not sample it), so the forest is fitted once.
Neither wins everywhere: on river's Agrawal concepts the forest is 10 to 40
points better (rules on age, salary and education), on its SEA concepts and
Agrawal's linear ones (6, 8) the regression is 1 to 5 points better, on 700
rows (see ``benchmarks/loop.py`` and ``tests/retrainer/learners/test_trainers.py``).

Rows arrive as dicts, as on the wire. :func:`columns_of` turns them into one
list per feature, each value cleaned to its feature's type
(:func:`~driftline.retrainer.learners.model.clean_row`: a number, a string, or None
when missing), and an encoder turns the columns into the matrix its learner
wants. :class:`TabularClassifier` offers class probabilities
(``predict_proba_one``/``predict_proba_many``) as well as labels, so the gate
can score it by log loss.

Examples
--------
>>> from driftline.retrainer.learners.logistic import Design, SoftmaxRegression
>>> types = {"x": "number"}
>>> cols = columns_of([{"x": float(i % 10)} for i in range(200)], types)
>>> enc = Design().fit(cols, types)
>>> learner = SoftmaxRegression().fit(enc.transform(cols), np.array([i % 10 >= 5 for i in range(200)], int), 2)
>>> model = TabularClassifier(learner, enc, types, ["no", "yes"], "logistic_regression")
>>> model.predict_many([{"x": 9.0}, {"x": 0.0}])
['yes', 'no']
>>> {k: round(v, 2) for k, v in model.predict_proba_one({"x": 9.0}).items()}
{'no': 0.0, 'yes': 1.0}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from driftline.retrainer.learners.forest import Binner, HistogramForest
from driftline.retrainer.learners.logistic import Design, SoftmaxRegression
from driftline.retrainer.learners.model import clean_row, infer_types

# Share of the (time-ordered) rows the candidates are compared on.
VALIDATION_FRACTION = 0.2
# Below this many validation rows a comparison is noise; take the forest.
MIN_VALIDATION_ROWS = 20


def columns_of(rows: Sequence[Mapping[str, Any]], types: Mapping[str, str]) -> dict[str, list]:
    """One list per feature of ``types``: the cleaned values, None where missing.

    >>> columns_of([{"a": 1, "b": "x"}, {"a": "n/a"}], {"a": "number", "b": "category"})
    {'a': [1, None], 'b': ['x', None]}
    """
    cleaned = [clean_row(x, types) for x in rows]
    return {name: [x.get(name) for x in cleaned] for name in types}


class TabularClassifier:
    """A fitted encoder and learner, with the labels the learner's class indices stand for.

    ``learner.predict_proba(matrix)`` gives one row of class shares per
    example; ``encoder.transform(columns)`` gives the matrix.
    """

    def __init__(self, learner: Any, encoder: Any, types: Mapping[str, str], classes: list[Any],
                 kind: str, validation: dict[str, float] | None = None):
        self.learner = learner
        self.encoder = encoder
        self.types = dict(types)
        self.features = list(self.types)
        self.classes = list(classes)
        self.kind = kind
        self.validation = dict(validation or {})

    def _proba(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self.learner.predict_proba(self.encoder.transform(columns_of(rows, self.types)))

    def predict_proba_many(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[Any, float]]:
        return [dict(zip(self.classes, map(float, p))) for p in self._proba(rows)]

    def predict_proba_one(self, x: Mapping[str, Any]) -> dict[Any, float]:
        return self.predict_proba_many([x])[0]

    def predict_many(self, rows: Sequence[Mapping[str, Any]]) -> list:
        if not rows:
            return []
        # Ties go to the first class, as argmax does.
        return [self.classes[i] for i in self._proba(rows).argmax(axis=1)]

    def predict_one(self, x: Mapping[str, Any]) -> Any:
        return self.predict_many([x])[0]

    def __repr__(self) -> str:
        return f"TabularClassifier(kind={self.kind!r}, features={self.features!r}, classes={self.classes!r})"


def fit_default(df: pd.DataFrame, features: list[str], label: str = "label", *,
                seed: int = 0) -> TabularClassifier:
    """Fit the forest and the regression on ``df`` and keep the better (see the module docstring).

    ``df`` holds one column per feature (numbers, strings, missing values) and
    ``label`` (bool, int or str); if it has a ``ts`` column, the rows are
    taken in time order, so validation is on the newest rows. Each feature
    is a number or a category, whichever most of its values are
    (:func:`~driftline.retrainer.learners.model.infer_types`).
    """
    if "ts" in df.columns:
        df = df.sort_values("ts", kind="stable")
    labels = df[label].tolist()
    classes = sorted(set(labels), key=lambda v: (type(v).__name__, v))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[v] for v in labels], dtype=np.int64)
    frame = df.reindex(columns=features)
    types = infer_types({name: frame[name].tolist() for name in features})
    columns = columns_of(frame.to_dict("records"), types)
    n, k = len(y), len(classes)

    binner = Binner().fit(columns, types)
    forest = HistogramForest(seed=seed).fit(binner.transform(columns), y, k, binner.categorical)
    cut = int(n * (1 - VALIDATION_FRACTION))
    scores: dict[str, float] = {}
    if n - cut >= MIN_VALIDATION_ROWS:
        judged = forest.oob_proba_[cut:]
        seen = ~np.isnan(judged).any(axis=1)
        hits = judged[seen].argmax(axis=1) == y[cut:][seen]
        scores["random_forest"] = float(hits.mean()) if seen.any() else 0.0
        older = {name: values[:cut] for name, values in columns.items()}
        newer = {name: values[cut:] for name, values in columns.items()}
        design = Design().fit(older, types)
        linear = SoftmaxRegression().fit(design.transform(older), y[:cut], k)
        scores["logistic_regression"] = float(
            (linear.predict_proba(design.transform(newer)).argmax(axis=1) == y[cut:]).mean())
    # Ties go to the regression, the simpler model.
    if scores and scores["logistic_regression"] >= scores["random_forest"]:
        design = Design().fit(columns, types)
        linear = SoftmaxRegression().fit(design.transform(columns), y, k)
        return TabularClassifier(linear, design, types, classes, "logistic_regression", scores)
    return TabularClassifier(forest, binner, types, classes, "random_forest", scores)

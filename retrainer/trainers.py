"""Pluggable trainers, and the default one.

A trainer is any importable callable ``trainer(df, features, label="label")``
that returns a model with ``predict_one``/``predict_many`` (see
:mod:`driftline.retrainer.model`); the retrainer finds it by a
``"package.module:function"`` spec.

The default fits two river learners and keeps the one that scores better on
the newest fifth of the training rows, then refits it on all of them:

- a logistic regression on standardised numbers and one-hot strings, 5 passes;
- a Hoeffding tree (numbers and strings as they are), several shuffled passes.

Neither wins everywhere. On river's SEA streams (a linear concept) the
logistic regression is about a point better; on the Agrawal streams (axis-aligned
rules) the tree is 10 to 45 points better. Picking per window gets close to the
better of the two on both.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"x": [float(i % 10) for i in range(400)],
...                    "colour": ["red", "blue"] * 200})
>>> df["label"] = df["x"] >= 5
>>> model = load_trainer("driftline.retrainer.trainers:river_default")(df, ["x", "colour"])
>>> model.predict_one({"x": 8.0, "colour": "red"}), model.predict_one({"x": 1.0})
(True, False)
"""

from __future__ import annotations

import importlib
import numbers
import random
from collections.abc import Callable
from typing import Any

import pandas as pd
from river import compose, linear_model, multiclass, preprocessing, tree

from driftline.retrainer.exceptions import TrainerLoadError
from driftline.retrainer.model import Model, RiverClassifier, clean_row, infer_types

DEFAULT_TRAINER = "driftline.retrainer.trainers:river_default"

# Share of the (time-ordered) training rows the default trainer validates its candidates on.
_VALIDATION_FRACTION = 0.2
# Below this many validation rows a comparison is noise; take the logistic regression.
_MIN_VALIDATION_ROWS = 20
_LOGISTIC_PASSES = 5
# A Hoeffding tree splits only after seeing enough rows per leaf, so small
# windows are replayed more often; about 100k updates keeps training to seconds.
_TREE_UPDATES = 100_000
_TREE_PASSES = (3, 20)
_SEED = 42


def load_trainer(spec: str) -> Callable[..., Model]:
    """Import the trainer named by ``"package.module:function"``.

    >>> load_trainer("driftline.retrainer.trainers:nope")
    Traceback (most recent call last):
    ...
    driftline.retrainer.exceptions.TrainerLoadError: trainer 'driftline.retrainer.trainers:nope': module 'driftline.retrainer.trainers' has no attribute 'nope'
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise TrainerLoadError(f"trainer {spec!r} must look like 'package.module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainerLoadError(f"trainer {spec!r}: cannot import {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TrainerLoadError(f"trainer {spec!r}: module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise TrainerLoadError(f"trainer {spec!r} is a {type(obj).__name__}, not a callable")
    return obj


def _logistic(n_classes: int) -> Any:
    numbers_ = compose.SelectType(numbers.Number) | preprocessing.StandardScaler()
    strings = compose.SelectType(str) | preprocessing.OneHotEncoder()
    if n_classes <= 2:
        return (numbers_ + strings) | linear_model.LogisticRegression()
    return (numbers_ + strings) | multiclass.OneVsRestClassifier(linear_model.LogisticRegression())


def _tree(_n_classes: int) -> Any:
    return tree.HoeffdingTreeClassifier(grace_period=50, delta=1e-3)


_CANDIDATES: dict[str, tuple[Callable[[int], Any], Callable[[int], int]]] = {
    "logistic_regression": (_logistic, lambda n: _LOGISTIC_PASSES),
    "hoeffding_tree": (_tree, lambda n: max(_TREE_PASSES[0], min(_TREE_PASSES[1], _TREE_UPDATES // max(n, 1)))),
}


def _fit(kind: str, rows: list[dict], y: list[int], n_classes: int) -> Any:
    make, passes = _CANDIDATES[kind]
    estimator = make(n_classes)
    # The binary logistic regression learns "is it the second class".
    targets: list[Any] = [i == 1 for i in y] if kind == "logistic_regression" and n_classes <= 2 else y
    order = list(range(len(rows)))
    rng = random.Random(_SEED)
    for p in range(passes(len(rows))):
        if p:
            rng.shuffle(order)
        for i in order:
            estimator.learn_one(rows[i], targets[i])
    return estimator


def _accuracy(estimator: Any, rows: list[dict], y: list[int]) -> float:
    hits = sum(int(estimator.predict_one(x) or 0) == t for x, t in zip(rows, y))
    return hits / len(rows)


def river_default(df: pd.DataFrame, features: list[str], label: str = "label") -> RiverClassifier:
    """Fit the better of a logistic regression and a Hoeffding tree on ``df``.

    ``df`` holds one column per feature (numbers, strings, missing values) and
    ``label`` (bool, int or str); if it has a ``ts`` column, the rows are
    taken in time order, so validation is on the newest rows. Each feature
    is a number or a category, whichever most of its values are
    (:func:`~driftline.retrainer.model.infer_types`).
    """
    if "ts" in df.columns:
        df = df.sort_values("ts", kind="stable")
    labels = df[label].tolist()
    classes = sorted(set(labels), key=lambda v: (type(v).__name__, v))
    index = {c: i for i, c in enumerate(classes)}
    y = [index[v] for v in labels]
    frame = df.reindex(columns=features)
    types = infer_types({name: frame[name].tolist() for name in features})
    rows = [clean_row(x, types) for x in frame.to_dict("records")]

    cut = int(len(rows) * (1 - _VALIDATION_FRACTION))
    scores: dict[str, float] = {}
    if len(rows) - cut >= _MIN_VALIDATION_ROWS:
        for kind in _CANDIDATES:
            estimator = _fit(kind, rows[:cut], y[:cut], len(classes))
            scores[kind] = _accuracy(estimator, rows[cut:], y[cut:])
        # Ties go to the first candidate, the cheaper logistic regression.
        kind = max(scores, key=scores.__getitem__)
    else:
        kind = "logistic_regression"
    return RiverClassifier(_fit(kind, rows, y, len(classes)), types, classes, kind, scores)

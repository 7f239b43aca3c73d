"""Pluggable trainers, and the default one.

A trainer is any importable callable ``trainer(df, features, label="label")``
that returns a model with ``predict_one``/``predict_many`` (see
:mod:`driftline.retrainer.learners.model`); the retrainer finds it by a
``"package.module:function"`` spec.

The default, ``river_default``, fits a random forest and a logistic
regression on the window and keeps the one that validates better on its
newest rows (:func:`~driftline.retrainer.learners.tabular.fit_default`). Its name is
from its first version, which fitted river learners; registries record
trainers by name, so the name stays.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"x": [float(i % 10) for i in range(400)],
...                    "colour": ["red", "blue"] * 200})
>>> df["label"] = df["x"] >= 5
>>> model = load_trainer("driftline.retrainer.learners.trainers:river_default")(df, ["x", "colour"])
>>> model.predict_one({"x": 8.0, "colour": "red"}), model.predict_one({"x": 1.0})
(True, False)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pandas as pd

from driftline.retrainer.exceptions import TrainerLoadError
from driftline.retrainer.learners.model import Model
from driftline.retrainer.learners.tabular import TabularClassifier, fit_default

DEFAULT_TRAINER = "driftline.retrainer.learners.trainers:river_default"
# Where the learners' modules were before retrainer/ had subpackages: registries name
# trainers by these specs, so they still load.
_MOVED = {f"driftline.retrainer.{name}": f"driftline.retrainer.learners.{name}"
          for name in ("trainers", "tabular", "adapters", "forest", "logistic", "model")}


def load_trainer(spec: str) -> Callable[..., Model]:
    """Import the trainer named by ``"package.module:function"``.

    >>> load_trainer("driftline.retrainer.learners.trainers:nope")
    Traceback (most recent call last):
    ...
    driftline.retrainer.exceptions.TrainerLoadError: trainer 'driftline.retrainer.learners.trainers:nope': module 'driftline.retrainer.learners.trainers' has no attribute 'nope'
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise TrainerLoadError(f"trainer {spec!r} must look like 'package.module:function'")
    try:
        obj: Any = importlib.import_module(_MOVED.get(module_name, module_name))
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


def river_default(df: pd.DataFrame, features: list[str], label: str = "label") -> TabularClassifier:
    """The default trainer: the better of a random forest and a logistic regression on ``df``.

    ``df`` holds one column per feature (numbers, strings, missing values) and
    ``label`` (bool, int or str); if it has a ``ts`` column, validation is on
    the newest rows. The model answers with the original labels and offers
    class probabilities (``predict_proba_one``/``predict_proba_many``).
    """
    return fit_default(df, features, label)

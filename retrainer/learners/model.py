"""The trained-model interface, and the wrapper that gives a river estimator that interface.

Whatever a trainer returns must offer ``predict_one(x: dict) -> label`` and
``predict_many(rows: list[dict]) -> list`` and be picklable; the gate scores
it, the store pickles it, and serving services call it.

Examples
--------
>>> from river import tree
>>> est = tree.HoeffdingTreeClassifier(grace_period=20)
>>> for x, y in [({"colour": "red"}, 1), ({"colour": "blue"}, 0), ({"colour": "red"}, 1)] * 30:
...     est.learn_one(x, y)
>>> model = RiverClassifier(est, {"colour": "category"}, classes=["no", "yes"], kind="hoeffding_tree")

A missing colour follows the branch most rows took:

>>> model.predict_one({"colour": "red"}), model.predict_many([{"colour": "blue"}, {"colour": None}])
('yes', ['no', 'yes'])
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Model(Protocol):
    def predict_one(self, x: dict) -> Any: ...

    def predict_many(self, rows: list[dict]) -> list: ...


NUMBER, CATEGORY = "number", "category"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ == "NAType"


def infer_types(columns: Mapping[str, Iterable[Any]]) -> dict[str, str]:
    """Each feature's type: ``"number"`` if most of its present values are numbers, else ``"category"``.

    A river tree fixes a feature's splitter on the first value it sees and
    cannot compare a number with a string later, so every feature gets one
    type up front.

    >>> infer_types({"amount": [1.5, None, "n/a", 3], "country": ["NL", "DE", 31]})
    {'amount': 'number', 'country': 'category'}
    """
    types = {}
    for name, values in columns.items():
        present = [v for v in values if not _missing(v)]
        n_numbers = sum(isinstance(v, numbers.Number) for v in present)
        types[name] = NUMBER if 2 * n_numbers >= len(present) else CATEGORY
    return types


def clean_row(x: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, Any]:
    """The features of ``x`` named in ``types``, each as its type, without missing values.

    river learners treat an absent key as "unknown" (trees follow the most
    travelled branch, linear models add nothing), whereas a None would crash
    them, so a missing value is left out. So is a string where a number
    belongs; a category is always a string.

    >>> types = {"a": "number", "b": "number", "c": "number", "d": "number", "e": "category"}
    >>> clean_row({"a": 1.0, "b": None, "c": float("nan"), "d": "n/a", "e": 7, "extra": 3}, types)
    {'a': 1.0, 'e': '7'}
    """
    out = {}
    for name, kind in types.items():
        v = x.get(name)
        if _missing(v):
            continue
        if kind == NUMBER:
            if isinstance(v, numbers.Number):
                out[name] = v
        else:
            out[name] = v if isinstance(v, str) else str(v)
    return out


class RiverClassifier:
    """A river classifier trained on label indices, answering with the original labels.

    Indices keep every learner on one footing: a binary logistic regression
    learns ``index == 1`` and answers with a bool, a tree answers with the
    index; both map back to ``classes`` (bool, int or str labels alike).
    """

    def __init__(self, estimator: Any, types: Mapping[str, str], classes: list[Any], kind: str,
                 validation: dict[str, float] | None = None):
        self.estimator = estimator
        self.types = dict(types)
        self.features = list(self.types)
        self.classes = list(classes)
        self.kind = kind
        self.validation = dict(validation or {})

    def predict_one(self, x: Mapping[str, Any]) -> Any:
        index = self.estimator.predict_one(clean_row(x, self.types))
        # An estimator that has seen nothing answers None; say the first class.
        return self.classes[0 if index is None else int(index)]

    def predict_many(self, rows: list[Mapping[str, Any]]) -> list:
        return [self.predict_one(x) for x in rows]

    def __repr__(self) -> str:
        return f"RiverClassifier(kind={self.kind!r}, features={self.features!r}, classes={self.classes!r})"

"""The bookkeeping behind the exporter: bounded model labels and counters that never go back.

>>> labels = ModelLabels(max_models=2)
>>> [labels.label(m) for m in ("a", "b", "c", "a", "d")]
['a', 'b', '_other', 'a', '_other']
>>> labels.folded
2
"""

from __future__ import annotations

OTHER = "_other"


class ModelLabels:
    """The ``model_id`` label of each model: its own for the first ``max_models``, then ``_other``.

    A model keeps the label it was first given for the life of the process, so
    a series never moves between labels.
    """

    def __init__(self, max_models: int) -> None:
        if max_models < 1:
            raise ValueError("max_models must be >= 1")
        self.max_models = max_models
        self._own: set[str] = set()
        self._folded: set[str] = set()

    def label(self, model_id: str) -> str:
        if model_id in self._own:
            return model_id
        if model_id in self._folded:
            return OTHER
        if len(self._own) < self.max_models and model_id != OTHER:
            self._own.add(model_id)
            return model_id
        self._folded.add(model_id)
        return OTHER

    @property
    def folded(self) -> int:
        """How many distinct models were folded into ``_other``."""
        return len(self._folded)


class Cumulative:
    """A count that a source reports as a running total, advanced between reports by increments.

    The monitor's metrics snapshot carries each model's total since its state
    began (it survives restarts); between snapshots the worker adds what it
    counts. The value never decreases: a total lower than the last one (the
    model's state started afresh) is counted on top of what was shown.

    >>> c = Cumulative()
    >>> c.add(5); c.value
    5
    >>> c.report(8); c.value      # the snapshot knows of 3 more
    8
    >>> c.add(2); c.report(9); c.value   # 1 of the 2 added was already in the total
    10
    >>> c.report(10); c.value
    10
    >>> c.report(4); c.value      # afresh: 4 more on top
    14
    """

    __slots__ = ("_base", "_reported", "_extra")

    def __init__(self) -> None:
        self._base = 0
        self._reported = 0
        self._extra = 0

    def add(self, n: int) -> None:
        if n > 0:
            self._extra += n

    def report(self, total: int) -> None:
        if total >= self._reported:
            self._extra = max(self._extra - (total - self._reported), 0)
        else:
            self._base += self._reported + self._extra
            self._extra = 0
        self._reported = total

    @property
    def value(self) -> int:
        return self._base + self._reported + self._extra

"""What a simulator run served, event by event, kept compact in numpy arrays.

>>> report = SimReport.from_lists(["1", "1", "1", "2", "2"], [1, 0, 1, 1, 1], n_feedback=4)
>>> report.n_events, report.accuracy(), report.accuracy(3)
(5, 0.8, 1.0)
>>> report.version_changes()
[(3, '2')]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

ROLLING_WINDOW = 1000


@dataclasses.dataclass(frozen=True)
class SimStats:
    """Progress of a running simulation.

    ``accuracy`` is over the last ``ROLLING_WINDOW`` (1000) events, ``None``
    before the first event; ``rate`` is events per second of wall time.
    """

    events: int
    accuracy: float | None
    version: str
    n_feedback: int
    elapsed_s: float
    rate: float


@dataclasses.dataclass(frozen=True)
class SimReport:
    """Per-event records of one :meth:`Simulator.run <driftline.producers.simulator.Simulator.run>`.

    Attributes
    ----------
    version_codes
        For each event, the index in ``version_names`` of the version that served it.
    version_names
        The versions served, in order of first use.
    correct
        For each event, 1 if the prediction equals the true label, else 0.
        Counted for every event, whether or not its feedback was sent.
    n_feedback
        Feedback events sent.
    pending_feedback
        Feedback not due by the end of the run, left unsent (a later run sends it).
    elapsed_s
        Wall time of the run.
    """

    version_codes: np.ndarray
    version_names: tuple[str, ...]
    correct: np.ndarray
    n_feedback: int = 0
    pending_feedback: int = 0
    elapsed_s: float = 0.0

    @classmethod
    def from_lists(cls, versions: Sequence[str], correct: Sequence[int], **kw: Any) -> SimReport:
        names: dict[str, int] = {}
        codes = [names.setdefault(v, len(names)) for v in versions]
        return cls(
            version_codes=np.asarray(codes, dtype=np.int32),
            version_names=tuple(names),
            correct=np.asarray(correct, dtype=np.uint8),
            **kw,
        )

    @property
    def n_events(self) -> int:
        return int(self.correct.size)

    def version_at(self, index: int) -> str:
        return self.version_names[int(self.version_codes[index])]

    def accuracy(self, start: int = 0, end: int | None = None) -> float:
        """Share of correct predictions among events ``start`` to ``end`` (exclusive); NaN if none."""
        window = self.correct[start:end]
        return float(window.mean()) if window.size else float("nan")

    def version_changes(self) -> list[tuple[int, str]]:
        """``(index, version)`` of every event served by a different version than the one before."""
        changed = np.flatnonzero(np.diff(self.version_codes)) + 1
        return [(int(i), self.version_at(i)) for i in changed]

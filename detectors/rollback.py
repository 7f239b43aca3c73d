"""Rollback: does a newly promoted version keep, live, the score its gate measured?

After a promotion the monitor scores the new version on its first ``events``
labeled predictions and compares that with the score the gate measured on the
version's holdout. Both are samples, so the test is two-sample and one-sided,
the same as the performance detectors run against the gate's score:

- a classifier's accuracy on the arcsine square-root scale, the holdout's
  sampling error included (the bound of :class:`AccuracyDrop` for one window
  of ``events`` items);
- a regressor's mean absolute error against the gamma bound of
  :class:`ErrorIncrease`, when the score carries the per-row error's standard
  deviation (``{"metric": "mae", "value": .., "std": .., "n": ..}``). A score
  without it (the retrainer registers regressors with no holdout error today)
  gives no check: :meth:`RollbackCheck.usable` says so, and such a version is
  only watched by the monitor's drift detectors.

It runs once per promotion, so ``1 - confidence`` is the probability, per
promotion, of rolling back a version that does as well live as on its
holdout. It does not know whether the previous champion would do better on
today's traffic: it asks whether the gate's promise held, which is what the
promotion rested on.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(3)
>>> check = RollbackCheck("5", {"metric": "accuracy", "value": 0.93, "n": 400}, events=1000)
>>> check.update(rng.random(600) < 0.71) is None  # 600 of 1000 labeled events so far
True
>>> verdict = check.update(rng.random(600) < 0.71)
>>> verdict.rollback, verdict.n_live, verdict.batch_index, round(verdict.bound, 3)
(True, 1000, 399, 0.875)
>>> print(verdict.message)
v5 scored 0.724 accuracy on its first 1000 labeled events, the gate measured 0.930 on 400 (bound 0.875 at 99.9% confidence)

A version that does live what its holdout promised stays:

>>> kept = RollbackCheck("6", {"metric": "accuracy", "value": 0.93, "n": 400}, events=1000)
>>> kept.update(rng.random(1000) < 0.92).rollback
False
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from driftline.detectors._checks import binary_stream, check_positive_int, check_probability, residual_batch
from driftline.detectors.predictions.accuracy import AccuracyDrop
from driftline.detectors.predictions.error_increase import ErrorIncrease

METRICS = ("accuracy", "mae")
_NAMES = {"accuracy": "accuracy", "mae": "mean absolute error"}


@dataclasses.dataclass(frozen=True)
class RollbackVerdict:
    """What the first ``n_live`` labeled events of ``version`` said about it."""

    version: str
    rollback: bool
    metric: str  # "accuracy" | "mae"
    live: float  # the version's score over its first n_live labeled events
    n_live: int
    gate: float  # the score the gate measured on the holdout
    n_gate: int | None  # holdout rows; None: the score is taken as exact
    bound: float  # live below it (accuracy) or above it (mae): roll back
    confidence: float
    batch_index: int  # position, in the last batch, of the event that completed the count

    @property
    def message(self) -> str:
        on = f" on {self.n_gate}" if self.n_gate else ""
        return (f"v{self.version} scored {self.live:.3f} {_NAMES[self.metric]} on its first "
                f"{self.n_live} labeled events, the gate measured {self.gate:.3f}{on} "
                f"(bound {self.bound:.3f} at {100 * self.confidence:g}% confidence)")

    def figures(self) -> dict[str, Any]:
        """Plain data, e.g. for a record of why a version was rolled back."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "batch_index"}


class RollbackCheck:
    """One-sided test of a promoted version's first ``events`` labeled outcomes against its gate score.

    Parameters
    ----------
    version
        The version under test (for the verdict and its message).
    score
        The score the version was registered with, as its reference profile
        holds it: ``{"metric": "accuracy", "value": 0.93, "n": 400}``, or
        ``{"metric": "mae", "value": 3.2, "std": 2.5, "n": 400}`` for a
        regressor; ``n`` may be missing (the score is then taken as exact).
    events
        Labeled events the live score is measured on.
    confidence
        One minus the probability of rolling back a version that does as well
        live as its holdout said.

    Notes
    -----
    :meth:`update` takes what the monitor has for each labeled event: 1 for a
    right answer and 0 for a wrong one (a classifier), the residual
    ``prediction - label`` (a regressor); NaN where it is unknown (skipped).
    Only the first ``events`` known outcomes count; later ones are ignored.
    The state is plain data, so a monitor's snapshot carries it.
    """

    def __init__(self, version: str, score: Mapping[str, Any], events: int = 1000,
                 confidence: float = 0.999) -> None:
        if not self.usable(score):
            raise ValueError(f"no gate score to test against: {dict(score)!r}; need metric "
                             f"'accuracy' with a value in [0, 1], or 'mae' with value and std")
        self.version = str(version)
        self.score = dict(score)
        self.events = check_positive_int("events", events)
        self.confidence = check_probability("confidence", confidence)
        self.metric = str(score["metric"])
        self.gate = float(score["value"])
        n = score.get("n")
        self.n_gate = check_positive_int("score n", int(n)) if n else None
        alpha = 1.0 - self.confidence
        if self.metric == "accuracy":
            self.bound = AccuracyDrop(window=self.events, baseline=self.gate,
                                      baseline_n=self.n_gate).lower_bound(alpha)
        else:
            self.bound = ErrorIncrease(window=self.events, baseline=self.gate,
                                       baseline_std=float(score["std"]), baseline_n=self.n_gate,
                                       false_alarm_rate=alpha / self.events).upper_bound(alpha)
        self._seen = 0
        self._correct = 0
        # The losses themselves: a running sum would round differently for other batch sizes.
        self._losses = np.zeros(self.events) if self.metric == "mae" else None
        self.verdict: RollbackVerdict | None = None

    def state_dict(self) -> dict[str, Any]:
        """Plain data to go on from: the parameters and the counts (see :meth:`from_state`)."""
        return {"version": self.version, "score": dict(self.score), "events": self.events,
                "confidence": self.confidence, "seen": self._seen, "correct": self._correct,
                "losses": None if self._losses is None else self._losses.copy(),
                "verdict": None if self.verdict is None else dataclasses.asdict(self.verdict)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RollbackCheck:
        check = cls(state["version"], state["score"], events=int(state["events"]),
                    confidence=float(state["confidence"]))
        check._seen, check._correct = int(state["seen"]), int(state["correct"])
        if state["losses"] is not None:
            check._losses = np.asarray(state["losses"], dtype=np.float64).copy()
        check.verdict = None if state["verdict"] is None else RollbackVerdict(**state["verdict"])
        return check

    @staticmethod
    def usable(score: Mapping[str, Any] | None) -> bool:
        """Whether ``score`` holds what the test needs (see the module notes)."""
        if not score or score.get("metric") not in METRICS or not _finite(score.get("value")):
            return False
        n = score.get("n")
        if n is not None and not (_finite(n) and n >= 0):
            return False
        if score["metric"] == "accuracy":
            return 0.0 <= score["value"] <= 1.0
        return score["value"] >= 0 and _finite(score.get("std")) and score["std"] >= 0

    @property
    def n_seen(self) -> int:
        """Known outcomes counted so far (at most ``events``)."""
        return self._seen

    def update(self, outcomes) -> RollbackVerdict | None:
        """Count a batch of outcomes; the verdict once ``events`` have been counted, else None.

        The verdict is returned once, by the call that completes the count;
        it stays in :attr:`verdict`.
        """
        if self.metric == "accuracy":
            positions, values = binary_stream("outcomes", outcomes)
        else:
            positions, values = _residuals(outcomes)
        if self.verdict is not None or not len(values):
            return None
        take = min(self.events - self._seen, len(values))
        if self.metric == "accuracy":
            self._correct += int(values[:take].sum())
        else:
            self._losses[self._seen:self._seen + take] = np.abs(values[:take])
        self._seen += take
        if self._seen < self.events:
            return None
        if self.metric == "accuracy":
            live = self._correct / self.events
            rollback = live < self.bound
        else:
            live = float(self._losses.mean())
            rollback = live > self.bound
        self.verdict = RollbackVerdict(
            version=self.version, rollback=rollback, metric=self.metric, live=live,
            n_live=self.events, gate=self.gate, n_gate=self.n_gate, bound=self.bound,
            confidence=self.confidence, batch_index=int(positions[take - 1]))
        return self.verdict


def _finite(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _residuals(outcomes) -> tuple[np.ndarray, np.ndarray]:
    r = residual_batch(outcomes)
    positions = np.flatnonzero(~np.isnan(r))
    return positions, r[positions]

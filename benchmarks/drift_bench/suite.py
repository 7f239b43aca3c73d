"""The monitor suite: the detectors run on one model and their shares of the false-alarm budget.

This is the one place the benchmark says what "driftline (monitor suite)"
is. The budget is the monitor's per-model target (``MonitorConfig``'s
``false_alarm_rate``, 1e-6 false alarms per event over all features and
detectors); each member present in ``driftline.detectors`` gets the share
below, renormalized over the members present, as its ``false_alarm_rate``.
A member whose constructor takes no ``false_alarm_rate`` (ADWIN's ``delta``,
the accuracy test's ``confidence``) runs at its own defaults, which were
calibrated far below its share; its share is then only nominal.

When the library has a suite object of its own, :func:`members` should read
membership and shares from it instead of :data:`MEMBERS`.

>>> [(m.detector, round(m.rate * 1e6, 3)) for m in members(["NumericDrift", "CategoricalDrift"])]
[('NumericDrift', 0.556), ('CategoricalDrift', 0.444)]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from driftline.consumers.monitor import MonitorConfig

BUDGET = MonitorConfig().false_alarm_rate


@dataclasses.dataclass(frozen=True)
class Member:
    detector: str  # class name in driftline.detectors
    # What it is fed: "numeric" (all numeric features), "categorical" (the
    # categorical features plus the prediction, as the monitor does),
    # "errors" (1 = wrong), "correct" (1 = right) or "quality" (per-value codes).
    watches: str
    share: float  # of BUDGET; 0 for detectors that are not statistical tests
    rate: float = 0.0  # set by members(): BUDGET times the renormalized share


MEMBERS = (
    Member("NumericDrift", "numeric", 0.25),
    Member("MeanShift", "numeric", 0.2),
    Member("MultivariateDrift", "numeric", 0.15),
    Member("CategoricalDrift", "categorical", 0.2),
    Member("DataQuality", "quality", 0.0),  # thresholds on rates of bad values
    Member("ErrorRateDrift", "errors", 0.1),
    Member("AccuracyDrop", "correct", 0.1),
)


def members(available: Iterable[str], budget: float = BUDGET) -> list[Member]:
    """The members found in ``available`` (class names), each with its rate."""
    present = [m for m in MEMBERS if m.detector in set(available)]
    total = sum(m.share for m in present) or 1.0
    return [dataclasses.replace(m, rate=budget * m.share / total) for m in present]

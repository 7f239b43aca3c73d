"""Where a synthetic stream changes: concept drifts, covariate shifts, and their CLI syntax.

A :class:`Drift` moves the labelling function to the next concept; a
:class:`Shift` moves the distribution of one numeric feature. Both are placed
by event index, so a test or a benchmark knows exactly where the change is.

>>> parse_drifts("20000,30000:2000")
[Drift(at=20000, width=0), Drift(at=30000, width=2000)]
>>> d = Drift(at=100, width=40)
>>> [round(d.weight(t), 3) for t in (0, 80, 100, 120, 200)]
[0.0, 0.119, 0.5, 0.881, 1.0]
"""

from __future__ import annotations

import dataclasses
import math

_DRIFT_SYNTAX = "AT or AT:WIDTH, integers >= 0, comma-separated (e.g. '20000,30000:2000')"


def _check_index(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Drift:
    """A switch to the next concept at event index ``at``.

    Parameters
    ----------
    at
        Index of the event where the new concept takes over (``width=0``) or,
        for a gradual drift, where half the events come from it.
    width
        0 for an abrupt drift. Otherwise the probability that an event comes
        from the new concept follows the sigmoid ``1 / (1 + exp(-4 (t - at) / width))``,
        which rises from 12% to 88% over ``width`` events (river's convention).

    Examples
    --------
    >>> Drift(500).weight(499), Drift(500).weight(500)
    (0.0, 1.0)
    >>> Drift(500, width=-1)
    Traceback (most recent call last):
    ...
    ValueError: width must be an integer >= 0, got -1
    """

    at: int
    width: int = 0

    def __post_init__(self) -> None:
        _check_index("at", self.at)
        _check_index("width", self.width)

    def weight(self, t: int) -> float:
        """Probability that event ``t`` is drawn from the new concept."""
        if self.width == 0:
            return 1.0 if t >= self.at else 0.0
        z = 4.0 * (t - self.at) / self.width
        # Two branches so exp() only ever sees a non-positive argument: far from
        # the centre it underflows to 0 instead of overflowing.
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


@dataclasses.dataclass(frozen=True)
class Shift:
    """Add ``delta`` to the numeric feature ``feature`` from event index ``at`` on.

    The label is computed before the shift, so shifting a feature the concept
    uses also moves the decision boundary as a model sees it. For pure data
    drift shift an uninformative feature (``x2`` on ``sea``).

    >>> Shift(at=10, feature="x2", delta=3.0)
    Shift(at=10, feature='x2', delta=3.0)
    """

    at: int
    feature: str
    delta: float

    def __post_init__(self) -> None:
        _check_index("at", self.at)
        if not isinstance(self.delta, (int, float)) or not math.isfinite(self.delta):
            raise ValueError(f"delta must be a finite number, got {self.delta!r}")


def parse_drifts(text: str) -> list[Drift]:
    """Parse the CLI form ``"AT[,AT:WIDTH...]"``; an empty string means no drift.

    >>> parse_drifts("")
    []
    >>> parse_drifts("300, 200")
    Traceback (most recent call last):
    ...
    ValueError: drift points must increase, but 200 comes after 300
    >>> parse_drifts("20k")
    Traceback (most recent call last):
    ...
    ValueError: bad drift '20k': expected AT or AT:WIDTH, integers >= 0, comma-separated (e.g. '20000,30000:2000')
    """
    drifts: list[Drift] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            if text.strip():
                raise ValueError(f"empty drift in {text!r}: expected {_DRIFT_SYNTAX}")
            continue
        at_text, _, width_text = part.partition(":")
        try:
            drift = Drift(int(at_text), int(width_text) if width_text else 0)
        except ValueError:
            raise ValueError(f"bad drift {part!r}: expected {_DRIFT_SYNTAX}") from None
        if drifts and drift.at <= drifts[-1].at:
            raise ValueError(f"drift points must increase, but {drift.at} comes after {drifts[-1].at}")
        drifts.append(drift)
    return drifts

"""Performance: a window's accuracy falling below the baseline."""

from __future__ import annotations

import math
import numbers

from driftline.detectors._checks import binary_stream, check_positive_int, check_probability, check_rate
from driftline.detectors._stats import normal_isf
from driftline.detectors.base import Detection, Detector

_DEFAULT_RATE = 1e-6


class AccuracyDrop(Detector):
    """One-sided test of each window's accuracy against a baseline.

    The baseline is given (e.g. the accuracy the deployment gate measured on
    its holdout, with ``baseline_n`` the number of rows it was measured on),
    or measured on the first ``window`` labelled items after construction or
    ``reset()``. Then every tumbling window of ``window`` labelled items is
    tested: it fires when the window's accuracy lies below the lower bound
    at which a window falls with probability :attr:`alpha` when nothing
    changed. Below the bound for ``alpha / 100`` it is ``"critical"``.

    ``alpha = false_alarm_rate * window``: the rate is per labelled item,
    like every other detector's, and each window runs one test.

    The bound is computed on the arcsine square-root scale, where a proportion
    has variance ``1 / (4 n)`` whatever its value. The usual normal bound
    ``p - z sqrt(p (1 - p) / n)`` assumes a symmetric tail and, for accuracies
    near 1, alarms several times more often than it promises. A baseline
    measured on ``n`` items adds its own sampling variance, ``1 / (4 n + 2)``
    for Anscombe's form of its angle, ``asin(sqrt((k + 3/8) / (n + 3/4)))``;
    a given baseline without ``baseline_n`` is taken as exact. The test then
    holds its level over the baselines one might have measured (it is the
    two-sample test of window against baseline); a particular baseline that
    came out high alarms more often than that, one that came out low less.

    Parameters
    ----------
    window
        Labelled items per tested window (and for measuring the baseline).
    baseline
        The expected accuracy, e.g. from the model's holdout; None to measure it.
    confidence
        The older form of the threshold: one minus the false-alarm
        probability of each window's test. Give this or ``false_alarm_rate``,
        not both; ``confidence=c`` is ``false_alarm_rate=(1 - c) / window``.
    baseline_n
        Items the given ``baseline`` was measured on; None if it is exact.
    false_alarm_rate
        Target false alarms per labelled item when nothing changes; 1e-6
        when neither it nor ``confidence`` is given.

    Notes
    -----
    ``value`` is the window's accuracy and ``threshold`` the bound.
    ``update()`` takes 1 for a correct prediction, 0 for a wrong one and NaN
    where the label is not known (skipped, so every window has exactly
    ``window`` labels).

    Examples
    --------
    >>> import numpy as np
    >>> from driftline.detectors import AccuracyDrop
    >>> rng = np.random.default_rng(5)
    >>> det = AccuracyDrop(window=500)
    >>> det.update(rng.random(1500) < 0.9)
    >>> round(det.reference_accuracy, 3), det.drift_detected
    (0.906, False)
    >>> det.update(rng.random(1000) < 0.6)
    >>> for d in det.detections:
    ...     print(d.batch_index, d.severity, d.value, round(d.threshold, 3))
    499 critical 0.628 0.836
    999 critical 0.596 0.836

    With the gate's holdout accuracy, measured on 300 rows, as the baseline:

    >>> gated = AccuracyDrop(window=500, baseline=0.91, baseline_n=300)
    >>> gated.update(rng.random(1000) < 0.8)
    >>> [(d.batch_index, d.severity, d.value, round(d.threshold, 3)) for d in gated.detections]
    [(499, 'critical', 0.786, 0.829), (999, 'warning', 0.816, 0.829)]

    References
    ----------
    F. J. Anscombe. "The transformation of Poisson, binomial and
    negative-binomial data." Biometrika 35(3/4), 1948.
    """

    kind = "performance"
    name = "accuracy"

    def __init__(self, window: int = 500, baseline: float | None = None,
                 confidence: float | None = None, baseline_n: int | None = None,
                 false_alarm_rate: float | None = None) -> None:
        self.window = check_positive_int("window", window)
        if baseline is not None and (isinstance(baseline, bool) or not isinstance(baseline, numbers.Real)
                                     or not 0.0 <= baseline <= 1.0):
            raise ValueError(f"baseline must be None or an accuracy in [0, 1], got {baseline!r}")
        self.baseline = baseline
        if confidence is not None and false_alarm_rate is not None:
            raise ValueError("give confidence (per window) or false_alarm_rate (per item), not both")
        self.confidence = None if confidence is None else check_probability("confidence", confidence)
        if baseline_n is not None:
            if baseline is None:
                raise ValueError("baseline_n needs a baseline: a measured baseline knows its own n")
            baseline_n = check_positive_int("baseline_n", baseline_n)
        self.baseline_n = baseline_n
        self.false_alarm_rate = (None if false_alarm_rate is None
                                 else check_rate(false_alarm_rate, 1, self.window))
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._baseline = None if self.baseline is None else float(self.baseline)
        self._baseline_n = self.baseline_n or 0  # 0: given, exact
        self._correct = 0
        self._fill = 0

    @property
    def alpha(self) -> float:
        """The false-alarm probability of each window's test."""
        if self.confidence is not None:
            return 1.0 - self.confidence
        rate = _DEFAULT_RATE if self.false_alarm_rate is None else self.false_alarm_rate
        return min(rate * self.window, 0.5)

    @property
    def reference_accuracy(self) -> float | None:
        """The accuracy windows are compared with: ``baseline``, or as measured (None until then)."""
        return self._baseline

    def update(self, correct) -> None:
        """Feed a 1-D array of 1 (correct) and 0 (wrong); NaN where the label is unknown."""
        positions, values = binary_stream("correct", correct)
        self._begin()
        i, n = 0, len(values)
        while i < n:
            take = min(self.window - self._fill, n - i)
            self._correct += int(values[i:i + take].sum())
            self._fill += take
            i += take
            if self._fill == self.window:
                self._close_window(batch_index=int(positions[i - 1]))
        self._n_seen += len(correct)

    def _close_window(self, batch_index: int) -> None:
        accuracy = self._correct / self.window
        self._correct = self._fill = 0
        if self._baseline is None:
            self._baseline, self._baseline_n = accuracy, self.window
            return
        self._checked.append((self.kind, self.name, None))
        bound = self.lower_bound(self.alpha)
        self._reading(self.name, None, accuracy, bound)
        if accuracy >= bound:
            return
        critical = accuracy < self.lower_bound(self.alpha / 100.0)
        self._detections.append(Detection(
            kind=self.kind, detector=self.name, feature=None,
            value=accuracy, threshold=bound, batch_index=batch_index,
            severity="critical" if critical else "warning",
            message=(f"accuracy {accuracy:.3f} over the last {self.window} labelled predictions "
                     f"is below {bound:.3f} (baseline {self._baseline:.3f})"),
        ))

    def lower_bound(self, alpha: float) -> float:
        """The accuracy a window falls below with probability ``alpha`` when nothing changed."""
        if self._baseline is None:
            raise ValueError("no baseline yet: it is measured on the first window")
        var = 1.0 / (4.0 * self.window)
        n = self._baseline_n
        if n:
            # Anscombe's form of the baseline's angle: with a few hundred rows
            # and an accuracy near 1 the plain one is skewed and, averaged
            # over baselines, alarms up to 2.4 times too often at alpha = 5e-4.
            var += 1.0 / (4.0 * n + 2.0)
            centre = math.asin(math.sqrt((self._baseline * n + 0.375) / (n + 0.75)))
        else:
            centre = math.asin(math.sqrt(self._baseline))
        angle = centre - normal_isf(alpha) * math.sqrt(var)
        return math.sin(max(angle, 0.0)) ** 2

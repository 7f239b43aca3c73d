"""Performance: a window's accuracy falling below the baseline."""

from __future__ import annotations

import math
import numbers

from driftline.detectors._checks import binary_stream, check_positive_int, check_probability
from driftline.detectors._stats import normal_isf
from driftline.detectors.base import Detection, Detector


class AccuracyDrop(Detector):
    """One-sided test of each window's accuracy against a baseline.

    The baseline is given, or measured on the first ``window`` labelled items
    after construction or ``reset()``. Then every tumbling window of
    ``window`` labelled items is tested: it fires when the window's accuracy
    lies below the lower confidence bound of the baseline at ``confidence``.
    Below the bound at ``1 - (1 - confidence) / 100`` it is ``"critical"``.

    The bound is computed on the arcsine square-root scale, where a proportion
    has variance ``1 / (4 n)`` whatever its value. The usual normal bound
    ``p - z sqrt(p (1 - p) / n)`` assumes a symmetric tail and, for accuracies
    near 1, alarms several times more often than ``confidence`` promises.
    A measured baseline adds its own sampling variance; a given one is exact.

    Parameters
    ----------
    window
        Labelled items per tested window (and for measuring the baseline).
    baseline
        The expected accuracy, e.g. from the model's holdout; None to measure it.
    confidence
        One minus the false-alarm probability of each window's test.

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
    499 critical 0.628 0.801
    999 critical 0.596 0.801

    References
    ----------
    F. J. Anscombe. "The transformation of Poisson, binomial and
    negative-binomial data." Biometrika 35(3/4), 1948.
    """

    kind = "performance"
    name = "accuracy"

    def __init__(self, window: int = 500, baseline: float | None = None,
                 confidence: float = 0.999999) -> None:
        self.window = check_positive_int("window", window)
        if baseline is not None and (isinstance(baseline, bool) or not isinstance(baseline, numbers.Real)
                                     or not 0.0 <= baseline <= 1.0):
            raise ValueError(f"baseline must be None or an accuracy in [0, 1], got {baseline!r}")
        self.baseline = baseline
        self.confidence = check_probability("confidence", confidence)
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._baseline = None if self.baseline is None else float(self.baseline)
        self._baseline_n = 0  # 0: given, exact
        self._correct = 0
        self._fill = 0

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
        bound = self.lower_bound(1.0 - self.confidence)
        if accuracy >= bound:
            return
        critical = accuracy < self.lower_bound((1.0 - self.confidence) / 100.0)
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
        if self._baseline_n:
            var += 1.0 / (4.0 * self._baseline_n)
        angle = math.asin(math.sqrt(self._baseline)) - normal_isf(alpha) * math.sqrt(var)
        return math.sin(max(angle, 0.0)) ** 2

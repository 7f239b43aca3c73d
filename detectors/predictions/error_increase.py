"""Performance of a regressor: a window's mean error rising above the baseline."""

from __future__ import annotations

import math
import numbers

import numpy as np

from driftline.detectors._checks import check_positive_int, check_rate, residual_batch
from driftline.detectors._stats import chi2_isf
from driftline.detectors.base import Detection, Detector

LOSSES = ("absolute", "squared")


class ErrorIncrease(Detector):
    """One-sided test of each window's mean absolute (or squared) error against a baseline.

    ``update()`` takes the residuals ``prediction - label`` of a regressor
    (NaN where the label is not known, skipped). Every tumbling window of
    ``window`` known residuals gives a mean loss, ``|r|`` or ``r²``, which is
    compared with the baseline's: given (e.g. the deployment gate's holdout
    error, with the standard deviation of the per-row loss and the number of
    rows it was measured on), or measured on the first window.

    Losses are not normal: they are positive and skewed, so the mean of a
    window has a long upper tail, and a normal bound alarms more often than
    it promises. The window mean is modelled as a gamma variable with the
    baseline's mean and variance ``std² (1 / window + 1 / baseline_n)``;
    it fires above the gamma's upper ``alpha`` quantile, ``alpha =
    false_alarm_rate * window`` (one test per window), and above the
    ``alpha / 100`` quantile it is ``"critical"``. The gamma is exact for
    squared normal residuals (a mean of chi-squared variables is a gamma),
    conservative for absolute normal residuals (a gamma with their mean and
    variance is more skewed than they are), and optimistic for losses with
    heavier tails than a gamma's; ``python -m benchmarks.performance``
    measures all three. A baseline measured on ``n`` rows brings its
    standard deviation's own sampling error, which the bound ignores: with
    absolute normal residuals and ``n`` of 100 to 500 it alarms about 1.2
    times as often as ``false_alarm_rate`` (averaged over baselines).

    Parameters
    ----------
    window
        Known residuals per tested window (and for measuring the baseline).
    baseline
        The expected mean loss; None to measure it (and its spread) on the first window.
    baseline_std
        Standard deviation of the per-row loss behind ``baseline``; needed with it.
    baseline_n
        Rows ``baseline`` was measured on; None if it is exact.
    loss
        ``"absolute"`` or ``"squared"``.
    false_alarm_rate
        Target false alarms per labelled item when nothing changes.

    Notes
    -----
    ``value`` is the window's mean loss and ``threshold`` the bound it crossed.

    Examples
    --------
    >>> import numpy as np
    >>> from driftline.detectors import ErrorIncrease
    >>> rng = np.random.default_rng(2)
    >>> det = ErrorIncrease(window=500)
    >>> det.update(rng.normal(size=2000))
    >>> round(det.reference_error, 3), det.drift_detected
    (0.819, False)
    >>> det.update(1.4 * rng.normal(size=1000))
    >>> for d in det.detections:
    ...     print(d.batch_index, d.severity, round(d.value, 3), round(d.threshold, 3))
    499 critical 1.103 0.95
    999 critical 1.151 0.95

    With the gate's holdout error (mean absolute error 0.8 and its standard
    deviation 0.6, over 400 rows) as the baseline:

    >>> gated = ErrorIncrease(window=500, baseline=0.8, baseline_std=0.6, baseline_n=400)
    >>> gated.update(rng.normal(size=1000))
    >>> gated.drift_detected
    False

    References
    ----------
    B. L. Welch. "The generalization of 'Student's' problem when several
    different population variances are involved." Biometrika 34, 1947
    (matching a distribution's first two moments).
    """

    kind = "performance"
    name = "error"

    def __init__(self, window: int = 500, baseline: float | None = None,
                 baseline_std: float | None = None, baseline_n: int | None = None,
                 loss: str = "absolute", false_alarm_rate: float = 1e-6) -> None:
        self.window = check_positive_int("window", window)
        for name, value in (("baseline", baseline), ("baseline_std", baseline_std)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                                      or not 0.0 <= value < math.inf):
                raise ValueError(f"{name} must be None or a finite number >= 0, got {value!r}")
        if (baseline is None) != (baseline_std is None):
            raise ValueError("give baseline and baseline_std together (or neither, to measure them)")
        if baseline_n is not None:
            if baseline is None:
                raise ValueError("baseline_n needs a baseline: a measured baseline knows its own n")
            baseline_n = check_positive_int("baseline_n", baseline_n)
        self.baseline = baseline
        self.baseline_std = baseline_std
        self.baseline_n = baseline_n
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.loss = loss
        self.false_alarm_rate = check_rate(false_alarm_rate, 1, self.window)
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        given = self.baseline is not None
        self._mean = float(self.baseline) if given else None
        self._std = float(self.baseline_std) if given else None
        self._n = (self.baseline_n or 0) if given else 0  # 0: exact
        # The window's losses themselves: sums kept across batches would
        # round differently for different batch sizes.
        self._losses = np.zeros(self.window)
        self._fill = 0

    @property
    def alpha(self) -> float:
        """The false-alarm probability of each window's test."""
        return self.false_alarm_rate * self.window

    @property
    def reference_error(self) -> float | None:
        """The mean loss windows are compared with: ``baseline``, or as measured (None until then)."""
        return self._mean

    def update(self, residuals) -> None:
        """Feed a 1-D array of residuals (prediction - label); NaN where the label is unknown."""
        r = residual_batch(residuals)
        self._begin()
        positions = np.flatnonzero(~np.isnan(r))
        losses = np.abs(r[positions]) if self.loss == "absolute" else r[positions] ** 2
        i, n = 0, len(losses)
        while i < n:
            take = min(self.window - self._fill, n - i)
            self._losses[self._fill:self._fill + take] = losses[i:i + take]
            self._fill += take
            i += take
            if self._fill == self.window:
                self._close_window(batch_index=int(positions[i - 1]))
        self._n_seen += len(r)

    def _close_window(self, batch_index: int) -> None:
        m = self.window
        mean = float(self._losses.mean())
        var = float(self._losses.var(ddof=1)) if m > 1 else 0.0
        self._fill = 0
        if self._mean is None:
            self._mean, self._std, self._n = mean, math.sqrt(var), m
            return
        self._checked.append((self.kind, self.name, None))
        bound = self.upper_bound(self.alpha)
        self._reading(self.name, None, mean, bound)
        if mean <= bound:
            return
        critical = mean > self.upper_bound(self.alpha / 100.0)
        what = "mean absolute error" if self.loss == "absolute" else "mean squared error"
        self._detections.append(Detection(
            kind=self.kind, detector=self.name, feature=None,
            value=mean, threshold=bound, batch_index=batch_index,
            severity="critical" if critical else "warning",
            message=(f"{what} {mean:.4g} over the last {m} labelled predictions "
                     f"is above {bound:.4g} (baseline {self._mean:.4g})"),
        ))

    def upper_bound(self, alpha: float) -> float:
        """The mean loss a window exceeds with probability ``alpha`` when nothing changed."""
        if self._mean is None:
            raise ValueError("no baseline yet: it is measured on the first window")
        var = self._std ** 2 * (1.0 / self.window + (1.0 / self._n if self._n else 0.0))
        if var == 0.0 or self._mean == 0.0:
            return self._mean
        # Gamma(shape k, scale theta) with the window mean's mean and variance;
        # its quantile is theta / 2 times a chi-squared quantile with 2k df.
        k = self._mean ** 2 / var
        theta = var / self._mean
        return theta / 2.0 * chi2_isf(alpha, 2.0 * k)

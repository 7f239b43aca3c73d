"""Data drift in numeric features: two-sample Kolmogorov-Smirnov per window."""

from __future__ import annotations

import numpy as np

from driftline.detectors._checks import check_features, check_positive_int, check_rate
from driftline.detectors._stats import ks_c
from driftline.detectors.base import Detection, ReferenceWindowTest


class NumericDrift(ReferenceWindowTest):
    """Kolmogorov-Smirnov test of each window of numeric features against a reference.

    The first ``reference_size`` rows become the reference (unless
    ``set_reference()`` gives one first). From then on, every tumbling window
    of ``window`` rows is compared feature by feature with the reference. One
    :class:`Detection` is produced per drifted feature per window.

    ``false_alarm_rate`` is the target rate of false alarms per row over all
    features together. Each window runs one test per feature, so each test gets
    ``alpha = false_alarm_rate * window / len(features)`` and its critical value
    is the asymptotic ``c(alpha) * sqrt((n + m) / (n * m))`` with
    ``c(alpha) = sqrt(-ln(alpha / 2) / 2)``. A statistic above the critical
    value for ``alpha / 100`` is ``"critical"``, otherwise ``"warning"``.

    Parameters
    ----------
    features
        Names of the columns of every batch, in order.
    reference_size
        Rows collected as the reference during warm-up, and the most rows kept
        by ``set_reference()``.
    window
        Rows per tested window.
    false_alarm_rate
        Target false alarms per row when nothing changes.
    seed
        Seeds the choice of rows when ``set_reference()`` is given more than
        ``reference_size`` rows.

    Notes
    -----
    With the defaults, 30 stationary streams of 10^6 rows of 10 normal
    features gave 24 false alarms in all, against a target of 30; a mean
    shift of 0.5 sd in one of them was found within 509 rows (median; at most
    780 in 50 trials). ``python -m tests.detectors.calibrate`` measures it.

    NaN (and any non-finite value) means missing and is left out per feature,
    so ``n`` and ``m`` are the counts of present values. The messages also
    give the Wasserstein-1 distance between window and reference, which says
    how far the feature moved in its own units.

    Examples
    --------
    >>> import numpy as np
    >>> from driftline.detectors import NumericDrift
    >>> rng = np.random.default_rng(7)
    >>> det = NumericDrift(["amount", "age"], reference_size=1000, window=500)
    >>> det.update(rng.normal(size=(1000, 2)))
    >>> det.ready
    True
    >>> later = rng.normal(size=(1500, 2))
    >>> later[700:, 1] += 0.5
    >>> det.update(later)
    >>> for d in det.detections:
    ...     print(d.feature, d.batch_index, d.severity, round(d.value, 3), round(d.threshold, 3))
    age 999 critical 0.177 0.116
    age 1499 critical 0.274 0.116
    """

    kind = "data_drift"
    name = "ks"

    def __init__(
        self,
        features: list[str],
        reference_size: int = 1000,
        window: int = 500,
        false_alarm_rate: float = 1e-6,
        seed: int = 0,
    ) -> None:
        self.features = check_features(features)
        self.reference_size = check_positive_int("reference_size", reference_size)
        self.window = check_positive_int("window", window)
        self.false_alarm_rate = check_rate(false_alarm_rate, len(self.features), self.window)
        self.seed = seed
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        d = len(self.features)
        self._ready = False
        self._warm = np.full((self.reference_size, d), np.nan)
        self._warm_fill = 0
        self._ref = np.empty((d, 0))  # per feature sorted, NaN last
        self._ref_n = np.zeros(d, dtype=np.int64)
        self._win = np.full((self.window, d), np.nan)
        self._fill = 0

    def set_reference(self, X: np.ndarray) -> None:
        """Use the rows of ``X`` (e.g. the training data) as the reference.

        More than ``reference_size`` rows are thinned to a seeded random
        ``reference_size`` of them. A window under way is dropped, so that
        every window is tested against one reference only.
        """
        X = self._check_batch(X)
        if len(X) == 0:
            raise ValueError("the reference needs at least one row")
        if len(X) > self.reference_size:
            rng = np.random.default_rng(self.seed)
            X = X[np.sort(rng.choice(len(X), self.reference_size, replace=False))]
        self._set_reference(X)

    def _set_reference(self, X: np.ndarray) -> None:
        self._ref = np.sort(X.T, axis=1)
        self._ref_n = np.count_nonzero(~np.isnan(X), axis=0).astype(np.int64)
        self._ready = True
        self._warm = np.full((0, len(self.features)), np.nan)
        self._warm_fill = 0
        self._fill = 0

    def update(self, X: np.ndarray) -> None:
        """Feed rows of shape ``(n, len(features))``; NaN marks a missing value."""
        X = self._check_batch(X)
        self._begin()
        i, n = 0, len(X)
        if not self._ready:
            take = min(self.reference_size - self._warm_fill, n)
            self._warm[self._warm_fill:self._warm_fill + take] = X[:take]
            self._warm_fill += take
            i = take
            if self._warm_fill == self.reference_size:
                self._set_reference(self._warm)
        while i < n:
            take = min(self.window - self._fill, n - i)
            self._win[self._fill:self._fill + take] = X[i:i + take]
            self._fill += take
            i += take
            if self._fill == self.window:
                self._test(batch_index=i - 1)
                self._fill = 0
        self._n_seen += n

    def _test(self, batch_index: int) -> None:
        stat, w1, m = ks_statistics(self._ref, self._ref_n, self._win)
        n = self._ref_n
        tested = (n > 0) & (m > 0)
        scale = np.sqrt((n + m) / np.maximum(n * m, 1))
        crit = ks_c(self.alpha) * scale
        crit_hi = ks_c(self.alpha / 100.0) * scale
        for j in np.flatnonzero(tested):
            feature = self.features[j]
            self._checked.append((self.kind, self.name, feature))
            if stat[j] <= crit[j]:
                continue
            self._detections.append(Detection(
                kind=self.kind, detector=self.name, feature=feature,
                value=float(stat[j]), threshold=float(crit[j]), batch_index=batch_index,
                severity="critical" if stat[j] > crit_hi[j] else "warning",
                message=(f"{feature}: KS statistic {stat[j]:.3f} > {crit[j]:.3f} "
                         f"({m[j]} recent values vs {n[j]} reference values; "
                         f"Wasserstein-1 distance {w1[j]:.4g})"),
            ))

    def _check_batch(self, X: np.ndarray) -> np.ndarray:
        try:
            X = np.array(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{type(self).__name__} takes numbers: {exc}") from None
        d = len(self.features)
        if X.ndim != 2 or X.shape[1] != d:
            raise ValueError(f"expected an array of shape (n, {d}) for features "
                             f"{self.features}, got shape {X.shape}")
        X[~np.isfinite(X)] = np.nan
        return X


def ks_statistics(ref: np.ndarray, ref_n: np.ndarray, window: np.ndarray):
    """KS statistic, Wasserstein-1 distance and present count per feature.

    ``ref`` is ``(d, n)``, each row sorted with NaN last; ``window`` is
    ``(m, d)`` with NaN for missing. Both ECDFs are evaluated at the end of
    every run of tied values in the merged sample, which is exact with ties.
    All features go through one sort; a stable sort of an already sorted
    reference followed by a sorted window is a merge of two runs.
    """
    d = window.shape[1]
    win = np.sort(window.T, axis=1)
    win_n = np.count_nonzero(~np.isnan(win), axis=1)
    if ref.shape[1] == 0:
        return np.zeros(d), np.zeros(d), win_n
    z = np.concatenate([ref, win], axis=1)
    order = np.argsort(z, axis=1, kind="stable")
    zs = np.take_along_axis(z, order, axis=1)
    present = ~np.isnan(zs)
    from_ref = order < ref.shape[1]
    cdf_ref = np.cumsum(from_ref & present, axis=1) / np.maximum(ref_n, 1)[:, None]
    cdf_win = np.cumsum(~from_ref & present, axis=1) / np.maximum(win_n, 1)[:, None]
    gap = np.diff(zs, axis=1)
    run_end = np.ones_like(present)
    run_end[:, :-1] = gap != 0  # NaN != 0, so the last present value ends a run
    diff = np.abs(cdf_ref - cdf_win)
    stat = np.max(np.where(present & run_end, diff, 0.0), axis=1)
    w1 = np.sum(np.where(present[:, 1:], diff[:, :-1] * np.nan_to_num(gap), 0.0), axis=1)
    return stat, w1, win_n

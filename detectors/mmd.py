"""Data drift in the joint distribution: maximum mean discrepancy with random Fourier features."""

from __future__ import annotations

import math
import numbers

import numpy as np

from driftline.detectors._checks import (
    check_calibration, check_features, check_positive_int, check_rate, numeric_batch,
)
from driftline.detectors.base import Detection, Detector

_CALIBRATION_VERSION = 1
# Pairs of reference rows the median heuristic looks at: plenty for a median.
_BANDWIDTH_PAIRS = 4000
# The resampled null is compared with the tail model at this quantile; it is
# far enough out to see a heavy tail and close enough in to be estimated well.
_CHECK_LEVEL = 0.95


class MultivariateDrift(Detector):
    """Maximum mean discrepancy between each window of rows and a reference.

    Every row is standardized with the reference's median and robust scale
    (interquartile range / 1.349), mapped to ``n_components`` random Fourier
    features of a Gaussian kernel, and each tumbling window of ``window``
    rows is compared with the reference by the squared distance between the
    two mean feature vectors (the MMD², up to the feature approximation).
    Because the kernel looks at all features together, a change in how they
    move together is seen even when no single feature changes, e.g. a
    correlation of +0.8 turning into -0.8. The kernel's bandwidth is the
    median distance between standardized reference rows (median heuristic).

    The threshold is calibrated on the reference for ``false_alarm_rate``,
    a rate per row: one test per window, so each test gets
    ``alpha = false_alarm_rate * window``. When nothing changes, the window's
    mean feature vector minus the reference's is about normal, so the
    statistic is a weighted sum of chi-squared variables whose weights are
    the eigenvalues of the reference's feature covariance times
    ``1 / window + 1 / reference rows``; its tail at ``alpha`` is computed by
    a saddlepoint approximation (exact enough far into the tail, where a
    moment-matched gamma is several times too optimistic). A seeded bootstrap
    of the statistic from the reference (both window and reference
    resampled) checks that model at its 95th percentile: where the resampled
    null is wider, all weights are scaled up by the ratio, never down.
    A statistic above the threshold for ``alpha / 100`` is ``"critical"``.

    Parameters
    ----------
    features
        Names of the numeric columns of every batch, in order.
    reference_size
        Rows collected as the reference during warm-up, and the most rows kept
        by ``set_reference()``.
    window
        Rows per tested window.
    n_components
        Random Fourier features; more approximate the kernel better and cost
        time linearly.
    false_alarm_rate
        Target false alarms per row when nothing changes.
    n_resamples
        Bootstrap resamples of the null statistic.
    seed
        Seeds the Fourier features, the bootstrap, the bandwidth's pairs and
        the thinning of a large reference.

    Notes
    -----
    Missing values (NaN or any non-finite number) are replaced by the
    reference median of their feature, i.e. 0 after standardization, so
    that missingness alone does not look like drift: the share of missing
    values is :class:`~driftline.detectors.DataQuality`'s job. A window in
    which a feature is missing much more often than in the reference still
    has that feature piled up at its median, and a large enough pile is
    reported as drift.

    ``value`` is the statistic and ``threshold`` what it was compared with.
    The message names the feature with the largest shift of its mean (in
    robust standard deviations), as a hint: a joint change can have none.

    Measured with ``python -m benchmarks.mmd`` (defaults, 10 features, 10
    streams of 10^6 rows each): 6, 9 and 18 false alarms for normal,
    log-normal and t2 features (target 10; t2 gave 6 in 10 more streams);
    a correlation flip +0.8 -> -0.8 between two features found after 671
    rows (median; none missed, where per-feature KS missed all), a 0.5 sd
    mean shift in one feature after 498 (KS: 552).

    Examples
    --------
    >>> import numpy as np
    >>> from driftline.detectors import MultivariateDrift
    >>> rng = np.random.default_rng(0)
    >>> def rows(n, rho):
    ...     X = rng.normal(size=(n, 4))
    ...     X[:, 1] = rho * X[:, 0] + np.sqrt(1 - rho ** 2) * X[:, 1]
    ...     return X
    >>> reference = rows(1000, 0.8)
    >>> det = MultivariateDrift(["a", "b", "c", "d"], reference_size=1000, window=500)
    >>> det.set_reference(reference)
    >>> det.update(rows(1000, 0.8))
    >>> det.drift_detected
    False
    >>> flipped = rows(1000, -0.8)  # same marginals, opposite correlation
    >>> det.update(flipped)
    >>> for d in det.detections:
    ...     print(d.batch_index, d.severity, round(d.value, 4), round(d.threshold, 4))
    499 critical 0.0202 0.0056
    999 critical 0.0153 0.0056
    >>> print(det.detections[0].message)
    joint distribution of 4 features moved: MMD² 0.02023 > 0.005609 (500 rows vs 1000 reference rows; largest mean shift c +0.15 sd)

    The calibration is plain data; with the same reference it is reused as is:

    >>> import json
    >>> saved = json.loads(json.dumps(det.calibration))
    >>> again = MultivariateDrift(["a", "b", "c", "d"], reference_size=1000, window=500)
    >>> again.set_reference(reference, calibration=saved)
    >>> again.update(flipped)
    >>> [d.value for d in again.detections] == [d.value for d in det.detections]
    True

    References
    ----------
    Arthur Gretton, Karsten M. Borgwardt, Malte J. Rasch, Bernhard Schölkopf
    and Alexander Smola. "A kernel two-sample test." JMLR 13, 2012.
    Ali Rahimi and Benjamin Recht. "Random features for large-scale kernel
    machines." NeurIPS 2007.
    Diego Kuonen. "Saddlepoint approximations for distributions of quadratic
    forms in normal variables." Biometrika 86(4), 1999.
    """

    kind = "data_drift"
    name = "mmd"

    def __init__(
        self,
        features: list[str],
        reference_size: int = 2000,
        window: int = 500,
        n_components: int = 200,
        false_alarm_rate: float = 1e-6,
        n_resamples: int = 1000,
        seed: int = 0,
    ) -> None:
        self.features = check_features(features)
        self.reference_size = check_positive_int("reference_size", reference_size)
        if self.reference_size < 2:
            raise ValueError(f"reference_size must be at least 2, got {reference_size!r}")
        self.window = check_positive_int("window", window)
        self.n_components = check_positive_int("n_components", n_components)
        self.false_alarm_rate = check_rate(false_alarm_rate, 1, self.window)
        self.n_resamples = check_positive_int("n_resamples", n_resamples)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.seed = int(seed)
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        d = len(self.features)
        self._ready = False
        self._warm = np.full((self.reference_size, d), np.nan)
        self._warm_fill = 0
        self._win = np.zeros((self.window, d))
        self._fill = 0
        self._calibration = None
        self._center = np.zeros(d)
        self._scale = np.ones(d)
        self._W = np.zeros((d, self.n_components))
        self._b = np.zeros(self.n_components)
        self._ref_mean = np.zeros(self.n_components)
        self._ref_loc = np.zeros(d)  # the reference's mean, standardized, for messages

    # ------------------------------------------------------------ reference

    @property
    def alpha(self) -> float:
        """The significance level of each window's test."""
        return self.false_alarm_rate * self.window

    @property
    def ready(self) -> bool:
        """True once there is a reference to test against."""
        return self._ready

    @property
    def calibration(self) -> dict | None:
        """The reference's calibration as JSON-able data (None before a reference).

        Store it with the reference and give both back to ``set_reference()``
        to skip the bootstrap and get identical results.
        """
        return None if self._calibration is None else {
            k: list(v) if isinstance(v, list) else v for k, v in self._calibration.items()}

    def set_reference(self, X: np.ndarray, calibration: dict | None = None) -> None:
        """Use the rows of ``X`` (e.g. the training data) as the reference.

        More than ``reference_size`` rows are thinned to a seeded random
        ``reference_size`` of them. ``calibration``, from :attr:`calibration`
        of a detector with the same parameters and the same ``X``, is used as
        it is instead of being computed again. A window under way is dropped,
        so that every window is tested against one reference only.
        """
        X = self._check_batch(X)
        if len(X) < 2:
            raise ValueError("the reference needs at least two rows")
        if len(X) > self.reference_size:
            rng = np.random.default_rng(self.seed)
            X = X[np.sort(rng.choice(len(X), self.reference_size, replace=False))]
        self._set_reference(X, calibration)

    def _set_reference(self, X: np.ndarray, calibration: dict | None = None) -> None:
        digest = fingerprint(X)
        if calibration is None:
            calibration = self._calibrate(X, digest)
        else:
            calibration = self._check_calibration(calibration, digest)
        self._calibration = calibration
        self._center = np.array(calibration["center"])
        self._scale = np.array(calibration["scale"])
        self._W, self._b = self._fourier(calibration["bandwidth"])
        Z = self._standardize(X)
        self._ref_mean = self._embed(Z).mean(axis=0)
        self._ref_loc = Z.mean(axis=0)
        self._ready = True
        self._warm = np.full((0, len(self.features)), np.nan)
        self._warm_fill = 0
        self._fill = 0

    def _calibrate(self, X: np.ndarray, digest: list) -> dict:
        center, scale = robust_location_scale(X)
        self._center, self._scale = center, scale
        Z = self._standardize(X)
        bandwidth = median_distance(Z, np.random.default_rng([self.seed, 1]))
        self._W, self._b = self._fourier(bandwidth)
        Phi = self._embed(Z)
        n, m = len(Z), self.window
        cov = np.cov(Phi, rowvar=False, bias=True).reshape(self.n_components, self.n_components)
        weights = np.clip(np.linalg.eigvalsh(cov), 0.0, None) * (1.0 / m + 1.0 / n)
        boot = bootstrap_null(Phi, m, self.n_resamples, np.random.default_rng([self.seed, 2]))
        model = quadratic_form_isf(1.0 - _CHECK_LEVEL, weights)
        resampled = float(np.quantile(boot, _CHECK_LEVEL))
        inflation = max(1.0, resampled / model) if model > 0 else 1.0
        weights = weights * inflation
        return {
            "method": "mmd-rff", "version": _CALIBRATION_VERSION, "reference_fingerprint": digest,
            "features": list(self.features), "reference_rows": int(n), "window": m,
            "n_components": self.n_components, "seed": self.seed,
            "false_alarm_rate": self.false_alarm_rate,
            "center": [float(v) for v in center], "scale": [float(v) for v in scale],
            "bandwidth": float(bandwidth), "inflation": float(inflation),
            "null_mean": float(weights.sum()), "resampled_mean": float(boot.mean()),
            "threshold": quadratic_form_isf(self.alpha, weights),
            "critical_threshold": quadratic_form_isf(self.alpha / 100.0, weights),
        }

    def _check_calibration(self, calibration: dict, digest: list) -> dict:
        check_calibration(calibration, type(self).__name__, "mmd-rff", _CALIBRATION_VERSION,
                          {"features": self.features, "window": self.window,
                           "n_components": self.n_components, "seed": self.seed,
                           "false_alarm_rate": self.false_alarm_rate})
        if calibration.get("reference_fingerprint") != digest:
            raise ValueError("calibration was made for another reference than these rows")
        return {k: list(v) if isinstance(v, list) else v for k, v in calibration.items()}

    def _fourier(self, bandwidth: float) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, 0])
        W = rng.standard_normal((len(self.features), self.n_components)) / bandwidth
        b = rng.uniform(0.0, 2.0 * math.pi, self.n_components)
        return W, b

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        Z = (X - self._center) / self._scale
        Z[np.isnan(Z)] = 0.0  # the reference median: see Notes
        return Z

    def _embed(self, Z: np.ndarray) -> np.ndarray:
        return math.sqrt(2.0 / self.n_components) * np.cos(Z @ self._W + self._b)

    # ------------------------------------------------------------ stream

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

    def statistic(self, X: np.ndarray) -> float:
        """The MMD² between the rows of ``X`` and the reference."""
        if not self._ready:
            raise ValueError("no reference yet")
        gap = self._embed(self._standardize(self._check_batch(X))).mean(axis=0) - self._ref_mean
        return float(gap @ gap)

    def _test(self, batch_index: int) -> None:
        Z = self._standardize(self._win)
        gap = self._embed(Z).mean(axis=0) - self._ref_mean
        stat = float(gap @ gap)
        self._checked.append((self.kind, self.name, None))
        threshold = self._calibration["threshold"]
        if stat <= threshold:
            return
        shift = Z.mean(axis=0) - self._ref_loc
        j = int(np.argmax(np.abs(shift)))
        self._detections.append(Detection(
            kind=self.kind, detector=self.name, feature=None,
            value=stat, threshold=threshold, batch_index=batch_index,
            severity="critical" if stat > self._calibration["critical_threshold"] else "warning",
            message=(f"joint distribution of {len(self.features)} features moved: MMD² {stat:.4g} > "
                     f"{threshold:.4g} ({self.window} rows vs {self._calibration['reference_rows']} "
                     f"reference rows; largest mean shift {self.features[j]} {shift[j]:+.2f} sd)"),
        ))

    def _check_batch(self, X: np.ndarray) -> np.ndarray:
        return numeric_batch(type(self).__name__, X, self.features)


def fingerprint(X: np.ndarray) -> list:
    """A few numbers that tell one reference from another (not a cryptographic hash).

    Row and missing counts, and sums of the values, their squares and the
    values weighted by their position, which a reordering changes.
    """
    Z = np.nan_to_num(X)
    w = np.arange(1, Z.size + 1, dtype=np.float64).reshape(Z.shape) / Z.size
    return [int(X.shape[0]), int(np.isnan(X).sum()),
            float(Z.sum()), float((Z * Z).sum()), float((Z * w).sum())]


def robust_location_scale(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column: median, and interquartile range / 1.349 (then std, then 1, where that is 0)."""
    present = ~np.isnan(X)
    center = np.zeros(X.shape[1])
    scale = np.ones(X.shape[1])
    for j in range(X.shape[1]):
        x = X[present[:, j], j]
        if len(x) == 0:
            continue
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        center[j] = med
        for s in ((q3 - q1) / 1.349, x.std()):
            if s > 0:
                scale[j] = s
                break
    return center, scale


def median_distance(Z: np.ndarray, rng: np.random.Generator) -> float:
    """The median Euclidean distance between random pairs of distinct rows (1 if it is 0)."""
    n = len(Z)
    i = rng.integers(0, n, _BANDWIDTH_PAIRS)
    j = (i + rng.integers(1, n, _BANDWIDTH_PAIRS)) % n
    med = float(np.median(np.linalg.norm(Z[i] - Z[j], axis=1)))
    return med if med > 0 else 1.0


def bootstrap_null(Phi: np.ndarray, window: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """MMD² of a resampled window of ``window`` rows against a resampled reference."""
    n = len(Phi)
    out = np.empty(resamples)
    p = np.full(n, 1.0 / n)
    for start in range(0, resamples, 256):
        k = min(256, resamples - start)
        w = rng.multinomial(window, p, size=k) / window
        r = rng.multinomial(n, p, size=k) / n
        gap = (w - r) @ Phi
        out[start:start + k] = np.einsum("ij,ij->i", gap, gap)
    return out


def quadratic_form_sf(x: float, weights: np.ndarray) -> float:
    """P(sum_i w_i Z_i^2 > x) for independent standard normal Z_i, by saddlepoint.

    Lugannani-Rice's formula on the cumulant generating function
    ``K(t) = -1/2 sum log(1 - 2 w_i t)``; for ``x`` at or below the mean the
    tail is not small and a plain ``1 - Phi(w)`` is used near it.
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w[w > 0]
    if len(w) == 0:
        return 0.0 if x >= 0 else 1.0
    mean = float(w.sum())
    if x <= 0:
        return 1.0
    # K'(t) = x on t < 1 / (2 max w); K' is increasing, so bisect.
    hi = 1.0 / (2.0 * w.max())
    lo = -len(w) / (2.0 * x) if x < mean else 0.0  # K'(lo) <= x
    for _ in range(200):
        t = 0.5 * (lo + hi)
        if t in (lo, hi):
            break
        if float(np.sum(w / (1.0 - 2.0 * w * t))) < x:
            lo = t
        else:
            hi = t
    t = 0.5 * (lo + hi)
    k = -0.5 * float(np.sum(np.log1p(-2.0 * w * t)))
    k2 = float(np.sum(2.0 * w * w / (1.0 - 2.0 * w * t) ** 2))
    r2 = 2.0 * (t * x - k)
    if abs(t) * math.sqrt(k2) < 1e-6 or r2 <= 0:  # at the mean: the formula is 0/0
        return 0.5
    r = math.copysign(math.sqrt(r2), t)
    u = t * math.sqrt(k2)
    tail = 0.5 * math.erfc(r / math.sqrt(2.0))
    density = math.exp(-0.5 * r * r) / math.sqrt(2.0 * math.pi)
    return min(1.0, max(0.0, tail + density * (1.0 / u - 1.0 / r)))


def quadratic_form_isf(p: float, weights: np.ndarray) -> float:
    """The x with ``quadratic_form_sf(x, weights) == p`` (to a relative 1e-10)."""
    w = np.asarray(weights, dtype=np.float64)
    w = w[w > 0]
    if len(w) == 0:
        return 0.0
    lo, hi = 0.0, float(w.sum())
    while quadratic_form_sf(hi, w) > p:
        lo, hi = hi, 2.0 * hi
    target = math.log(p)
    while hi - lo > 1e-10 * hi:
        mid = 0.5 * (lo + hi)
        if math.log(max(quadratic_form_sf(mid, w), 1e-300)) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)

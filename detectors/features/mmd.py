"""Data drift in the joint distribution: kernel two-sample tests on whitened normal scores."""

from __future__ import annotations

import copy
import functools
import math
import numbers
from statistics import NormalDist

import numpy as np

from driftline.detectors._checks import (
    check_calibration, check_features, check_positive_int, check_rate, numeric_batch,
)
from driftline.detectors.base import Detection, Detector

_CALIBRATION_VERSION = 2
# Pairs of reference rows the median heuristic looks at: plenty for a median.
_BANDWIDTH_PAIRS = 4000
# The resampled null is compared with the tail model at this quantile; it is
# far enough out to see a heavy tail and close enough in to be estimated well.
_CHECK_LEVEL = 0.95
# The reference's covariance of normal scores is shrunk this much towards the
# identity before whitening: a direction the reference barely used is
# magnified up to 10-fold (one it never used, such as a constant column or a
# linear combination of others, no more than that). At 0.05 (at most 4.5-fold)
# the residual of x2 = x0 + x1 + 0.1 noise growing to 0.4 noise went unseen.
_SHRINKAGE = 0.01
# Each window runs two tests; this is each one's share of the window's alpha.
_SPLIT = {"mmd": 0.5, "moments": 0.5}
_LABELS = {"mmd": "MMD²", "moments": "second-moment gap"}


class MultivariateDrift(Detector):
    """Two kernel two-sample tests between each window of rows and a reference, on all features at once.

    Every value is first replaced by its normal score against the
    reference's values of its feature: ``Phi^-1((k + e/2 + 1/2) / (n + 1))``
    with ``k`` of the ``n`` reference values below it and ``e`` equal to it.
    Whatever a feature's shape (skewed, heavy-tailed, with ties), its scores
    are about standard normal and bounded (within ±3.3 for 1000 reference
    rows), so no single value can dominate a window and the null is the same
    for every shape; a change in how features move together is a change in
    the scores' covariance. Each tumbling window of ``window`` rows is then
    compared with the reference by two statistics, each the squared distance
    between the window's and the reference's mean of a feature map (an MMD²):

    - ``"mmd"``: ``n_components`` random Fourier features of a Gaussian
      kernel on the scores whitened with the reference's covariance of scores
      (shrunk 1% towards the identity), the bandwidth being the median
      distance between whitened reference rows. Whitening makes a direction
      the reference barely used as visible as any other. It sees mean shifts
      and changes of shape in any direction.
    - ``"moments"``: ``n_components`` squared random projections of the
      scores less their squared norm, the features of the kernel
      ``2 (x . y)²``, whose mean embedding is the matrix of second moments:
      correlations and scales. A correlation of +0.8 turning into -0.8 (no
      feature's distribution changes) moves one cross moment by 1.6, where
      a window's noise is about 0.05.

    The moments are not whitened: whitened with a covariance estimated from
    the same reference, a window's second moments vary more than the tail
    model allows (simulated, 10 normal features, reference 1000 rows,
    windows of 500 at 10^-3 per window: 1.8 times the target false alarms
    whitened, over 70 references; 1.1 times unwhitened, over 100).

    Both thresholds are calibrated on the reference for ``false_alarm_rate``,
    a rate per row: one test per window, so each window gets
    ``alpha = false_alarm_rate * window``, half for each statistic. When
    nothing changes, a window's mean feature vector minus the reference's is
    about normal, so each statistic is a weighted sum of chi-squared
    variables whose weights are the eigenvalues of the reference's feature
    covariance times ``1 / window + 1 / reference rows``; its tail is
    computed by a saddlepoint approximation (exact enough far into the tail,
    where a moment-matched gamma is several times too optimistic). A seeded
    bootstrap of each statistic from the reference (both window and
    reference resampled) checks that model at its 95th percentile: where the
    resampled null is wider, all weights are scaled up by the ratio, never
    down. Reference values are scored leave-one-out (against the other
    reference values), as a new value is against all of them. A statistic
    above its threshold for a hundredth of its share of ``alpha`` is
    ``"critical"``.

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
        Random features of each statistic; more approximate the kernels better
        and cost time linearly.
    false_alarm_rate
        Target false alarms per row when nothing changes.
    n_resamples
        Bootstrap resamples of the null statistics.
    seed
        Seeds the random features, the bootstrap, the bandwidth's pairs and
        the thinning of a large reference.

    Notes
    -----
    Missing values (NaN or any non-finite number) get the score 0, the
    reference median's, so that missingness alone does not look like drift:
    the share of missing values is :class:`~driftline.detectors.DataQuality`'s
    job. A window in which a feature is missing much more often than in the
    reference still has that feature piled up at its median, and a large
    enough pile is reported as drift. A feature with no value in the
    reference is left out.

    ``value`` and ``threshold`` are those of the statistic furthest past its
    threshold, which the message names. As a hint, the message also names
    the feature whose mean score moved most (in standard deviations) and the
    pair of features whose correlation of scores changed most.

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
    499 critical 0.091 0.0053
    999 critical 0.0847 0.0053
    >>> print(det.detections[0].message)
    joint distribution of 4 features moved: MMD² 0.09102 > 0.005293 (500 rows vs 1000 reference rows; largest mean shift c +0.15 sd, largest change of correlation a~b +0.80 -> -0.81)

    Both statistics of one window, next to their thresholds:

    >>> {k: round(v, 4) for k, v in det.statistic(flipped[:500]).items()}
    {'mmd': 0.091, 'moments': 0.679}
    >>> {k: round(t["threshold"], 4) for k, t in det.calibration["tests"].items()}
    {'mmd': 0.0053, 'moments': 0.049}

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
    B. L. van der Waerden. "Order tests for the two-sample problem and their
    power." Indagationes Mathematicae 14, 1952.
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
        # The reference per column, sorted (missing values last), how many of
        # its values are present, and the normal score of every mid-rank.
        self._sorted = np.zeros((0, d))
        self._present = np.zeros(d, dtype=np.int64)
        self._table = np.zeros((1, d))
        self._whiten = np.eye(d)
        self._G = np.zeros((d, self.n_components))
        self._b = np.zeros(self.n_components)
        self._bandwidth = 1.0
        self._ref_mmd = np.zeros(self.n_components)
        self._ref_moments = np.zeros(self.n_components)
        self._ref_corr = np.eye(d)  # for messages: the reference's correlations of scores

    # ------------------------------------------------------------ reference

    @property
    def alpha(self) -> float:
        """The significance level of each window's test (both statistics together)."""
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
        return copy.deepcopy(self._calibration)

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
        if calibration is not None:
            calibration = self._check_calibration(calibration, digest)
        # The transform is a few sorts and one small eigendecomposition: made
        # again from the rows rather than stored with the calibration.
        S = self._fit_transform(X)
        if calibration is None:
            calibration = self._calibrate(S, digest)
        self._calibration = calibration
        self._bandwidth = calibration["bandwidth"]
        self._ref_mmd, self._ref_moments = (F.mean(axis=0) for F in self._embed(S))
        self._ref_corr = _correlations(S)
        self._ready = True
        self._warm = np.full((0, len(self.features)), np.nan)
        self._warm_fill = 0
        self._fill = 0

    def _fit_transform(self, X: np.ndarray) -> np.ndarray:
        """Fit the scores and the whitening to the reference ``X``; return its scores."""
        n, d = X.shape
        self._sorted = np.sort(X, axis=0)  # NaN sorts last
        self._present = (~np.isnan(X)).sum(axis=0)
        self._table = np.zeros((2 * n + 1, d))
        S = np.zeros((n, d))
        for j, k in enumerate(self._present.tolist()):
            self._table[:2 * k + 1, j] = normal_scores(k)
            if k == 0:
                continue
            # Each reference value is scored against the others, as a new value
            # is against all of them: scored against itself too, the reference
            # would miss the outermost scores a new value can get, and its
            # second moments would sit about 1% below every window's.
            ref, x = self._sorted[:k, j], X[:, j]
            twice = np.searchsorted(ref, x, "left") + np.searchsorted(ref, x, "right") - 1
            S[:, j] = normal_scores(k - 1)[np.clip(twice, 0, 2 * k - 2)]
        S[np.isnan(X)] = 0.0
        cov = (1.0 - _SHRINKAGE) * np.cov(S, rowvar=False, bias=True).reshape(d, d) + _SHRINKAGE * np.eye(d)
        values, vectors = np.linalg.eigh(cov)
        self._whiten = (vectors / np.sqrt(values)) @ vectors.T
        rng = np.random.default_rng([self.seed, 0])
        self._G = rng.standard_normal((d, self.n_components))
        self._b = rng.uniform(0.0, 2.0 * math.pi, self.n_components)
        return S

    def _calibrate(self, S: np.ndarray, digest: list) -> dict:
        self._bandwidth = median_distance(S @ self._whiten, np.random.default_rng([self.seed, 1]))
        embedded = self._embed(S)
        n, m = len(S), self.window
        boots = bootstrap_null(embedded, m, self.n_resamples, np.random.default_rng([self.seed, 2]))
        tests = {}
        for name, Phi, boot in zip(_SPLIT, embedded, boots):
            k = Phi.shape[1]
            cov = np.cov(Phi, rowvar=False, bias=True).reshape(k, k)
            weights = np.clip(np.linalg.eigvalsh(cov), 0.0, None) * (1.0 / m + 1.0 / n)
            model = quadratic_form_isf(1.0 - _CHECK_LEVEL, weights)
            resampled = float(np.quantile(boot, _CHECK_LEVEL))
            inflation = max(1.0, resampled / model) if model > 0 else 1.0
            weights = weights * inflation
            alpha = self.alpha * _SPLIT[name]
            tests[name] = {
                "alpha": alpha, "inflation": float(inflation), "null_mean": float(weights.sum()),
                "resampled_mean": float(boot.mean()),
                "threshold": quadratic_form_isf(alpha, weights),
                "critical_threshold": quadratic_form_isf(alpha / 100.0, weights),
            }
        return {
            "method": "mmd-rff", "version": _CALIBRATION_VERSION, "reference_fingerprint": digest,
            "features": list(self.features), "reference_rows": int(n), "window": m,
            "n_components": self.n_components, "seed": self.seed,
            "false_alarm_rate": self.false_alarm_rate, "shrinkage": _SHRINKAGE,
            "bandwidth": float(self._bandwidth), "tests": tests,
        }

    def _check_calibration(self, calibration: dict, digest: list) -> dict:
        check_calibration(calibration, type(self).__name__, "mmd-rff", _CALIBRATION_VERSION,
                          {"features": self.features, "window": self.window,
                           "n_components": self.n_components, "seed": self.seed,
                           "false_alarm_rate": self.false_alarm_rate, "shrinkage": _SHRINKAGE})
        if calibration.get("reference_fingerprint") != digest:
            raise ValueError("calibration was made for another reference than these rows")
        tests = calibration.get("tests")
        numbers_ = [calibration.get("bandwidth")]
        if isinstance(tests, dict) and set(tests) == set(_SPLIT):
            numbers_ += [t.get(k) if isinstance(t, dict) else None for t in tests.values()
                         for k in ("threshold", "critical_threshold")]
        else:
            numbers_.append(None)
        if not all(isinstance(v, numbers.Real) and math.isfinite(v) and v > 0 for v in numbers_):
            raise ValueError(f"calibration must hold a bandwidth and, for each of {sorted(_SPLIT)}, "
                             "a threshold and a critical_threshold, all finite numbers > 0")
        return copy.deepcopy(calibration)

    def _scores(self, X: np.ndarray) -> np.ndarray:
        """Each value's normal score against its column of the reference; 0 where missing."""
        S = np.zeros(X.shape)
        for j, k in enumerate(self._present.tolist()):
            if k == 0:
                continue
            ref, x = self._sorted[:k, j], X[:, j]
            # Twice the mid-rank: ties share one score, a new value gets the one between.
            twice = np.searchsorted(ref, x, "left") + np.searchsorted(ref, x, "right")
            S[:, j] = self._table[twice, j]
        S[np.isnan(X)] = 0.0  # the reference median: see Notes
        return S

    def _embed(self, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both feature maps of the scores ``S``: Fourier features of the whitened
        scores, and squared random projections of the scores less their squared norm."""
        k = self.n_components
        fourier = math.sqrt(2.0 / k) * np.cos((S @ self._whiten) @ self._G / self._bandwidth + self._b)
        # E[(g.x)^2 (g.y)^2] = |x|^2 |y|^2 + 2 (x.y)^2 for standard normal g, and
        # E[(g.x)^2] = |x|^2: taking |x|^2 off leaves the kernel 2 (x.y)^2, whose
        # mean embedding is the matrix of second moments, without the weight
        # the first term puts on |x|^2 alone (a noisy sum of every feature's scale).
        moments = np.square(S @ self._G) - np.square(S).sum(axis=1, keepdims=True)
        return fourier, moments / (len(self.features) * math.sqrt(k))

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

    def statistic(self, X: np.ndarray) -> dict[str, float]:
        """Both statistics of the rows of ``X`` against the reference: ``{"mmd": ..., "moments": ...}``."""
        if not self._ready:
            raise ValueError("no reference yet")
        return self._statistics(self._scores(self._check_batch(X)))

    def _mean_embedding(self, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The row means of both feature maps of ``S`` (what :meth:`_embed` gives, averaged),
        without the rows: a window's test needs only the means."""
        k, n = self.n_components, len(S)
        # float32 cosines: numpy vectorises them, float64 ones it does not; their rounding
        # is far below the window's own noise in the mean.
        phase = ((S @ self._whiten) @ self._G / self._bandwidth + self._b).astype(np.float32)
        fourier = math.sqrt(2.0 / k) * np.cos(phase).mean(axis=0, dtype=np.float64)
        # mean of (S g)^2 over the rows is g' M g with M the rows' second moments.
        M = S.T @ S / n
        moments = np.einsum("ij,ij->j", self._G, M @ self._G) - np.trace(M)
        return fourier, moments / (len(self.features) * math.sqrt(k))

    def _statistics(self, S: np.ndarray) -> dict[str, float]:
        out = {}
        for name, mean, ref in zip(("mmd", "moments"), self._mean_embedding(S),
                                   (self._ref_mmd, self._ref_moments)):
            gap = mean - ref
            out[name] = float(gap @ gap)
        return out

    def _test(self, batch_index: int) -> None:
        S = self._scores(self._win)
        stats = self._statistics(S)
        self._checked.append((self.kind, self.name, None))
        tests = self._calibration["tests"]
        # MMD² itself is shown: its threshold stays put, so a chart of it reads at a glance.
        self._reading(self.name, None, stats["mmd"], tests["mmd"]["threshold"])
        fired = [name for name in _SPLIT if stats[name] > tests[name]["threshold"]]
        if not fired:
            return
        # The one furthest past its threshold speaks for the window.
        name = max(fired, key=lambda s: stats[s] / tests[s]["threshold"])
        stat, threshold = stats[name], tests[name]["threshold"]
        critical = any(stats[s] > tests[s]["critical_threshold"] for s in fired)
        self._detections.append(Detection(
            kind=self.kind, detector=self.name, feature=None,
            value=stat, threshold=threshold, batch_index=batch_index,
            severity="critical" if critical else "warning",
            message=(f"joint distribution of {len(self.features)} features moved: {_LABELS[name]} "
                     f"{stat:.4g} > {threshold:.4g} ({self.window} rows vs "
                     f"{self._calibration['reference_rows']} reference rows; {self._hint(S)})"),
        ))

    def _hint(self, S: np.ndarray) -> str:
        """The largest mean shift and the largest change of correlation, in normal scores."""
        shift = S.mean(axis=0)
        j = int(np.argmax(np.abs(shift)))
        text = f"largest mean shift {self.features[j]} {shift[j]:+.2f} sd"
        d = len(self.features)
        if d < 2:
            return text
        corr = _correlations(S)
        change = np.abs(corr - self._ref_corr)[np.triu_indices(d, 1)]
        a, b = (int(v[np.argmax(change)]) for v in np.triu_indices(d, 1))
        return (text + f", largest change of correlation {self.features[a]}~{self.features[b]} "
                f"{self._ref_corr[a, b]:+.2f} -> {corr[a, b]:+.2f}")

    def _check_batch(self, X: np.ndarray) -> np.ndarray:
        return numeric_batch(type(self).__name__, X, self.features)


@functools.lru_cache(maxsize=16)
def normal_scores(n: int) -> np.ndarray:
    """The normal score of every mid-rank among ``n`` values, indexed by twice the mid-rank.

    A value with ``k`` of the ``n`` reference values below it and ``e`` equal
    to it has mid-rank ``k + e / 2`` and normal score
    ``Phi^-1((k + e / 2 + 1/2) / (n + 1))``: van der Waerden's for a
    reference value, the one halfway between for a new value, within
    about ±3.3 for ``n = 1000`` however heavy the tails.
    """
    inv = NormalDist().inv_cdf
    table = np.array([inv((h / 2.0 + 0.5) / (n + 1.0)) for h in range(2 * n + 1)])
    table.setflags(write=False)  # shared by every caller through the cache
    return table


def _correlations(S: np.ndarray) -> np.ndarray:
    """Correlation matrix of the columns of ``S``; 0 off the diagonal for a constant column."""
    C = np.cov(S, rowvar=False, bias=True).reshape(S.shape[1], S.shape[1])
    sd = np.sqrt(np.diag(C))
    sd[sd == 0] = np.inf
    out = C / np.outer(sd, sd)
    np.fill_diagonal(out, 1.0)
    return out


def fingerprint(X: np.ndarray) -> list:
    """A few numbers that tell one reference from another (not a cryptographic hash).

    Row and missing counts, and sums of the values, their squares and the
    values weighted by their position, which a reordering changes.
    """
    Z = np.nan_to_num(X)
    w = np.arange(1, Z.size + 1, dtype=np.float64).reshape(Z.shape) / Z.size
    return [int(X.shape[0]), int(np.isnan(X).sum()),
            float(Z.sum()), float((Z * Z).sum()), float((Z * w).sum())]


def median_distance(Z: np.ndarray, rng: np.random.Generator) -> float:
    """The median Euclidean distance between random pairs of distinct rows (1 if it is 0)."""
    n = len(Z)
    i = rng.integers(0, n, _BANDWIDTH_PAIRS)
    j = (i + rng.integers(1, n, _BANDWIDTH_PAIRS)) % n
    med = float(np.median(np.linalg.norm(Z[i] - Z[j], axis=1)))
    return med if med > 0 else 1.0


def bootstrap_null(Phis: list[np.ndarray], window: int, resamples: int,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """Each embedding's squared mean gap between a resampled window of ``window`` rows and a
    resampled reference (the same resamples for all of them)."""
    n = len(Phis[0])
    out = [np.empty(resamples) for _ in Phis]
    p = np.full(n, 1.0 / n)
    for start in range(0, resamples, 256):
        k = min(256, resamples - start)
        w = rng.multinomial(window, p, size=k) / window - rng.multinomial(n, p, size=k) / n
        for Phi, o in zip(Phis, out):
            gap = w @ Phi
            o[start:start + k] = np.einsum("ij,ij->i", gap, gap)
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

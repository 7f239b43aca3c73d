"""Data drift in numeric features: Kolmogorov-Smirnov and PSI per window, calibrated on the reference."""

from __future__ import annotations

import copy
import math
import numbers

import numpy as np

from driftline.detectors._checks import (
    check_calibration, check_features, check_positive_int, check_rate, numeric_batch,
)
from driftline.detectors._stats import chi2_isf, chi2_sf
from driftline.detectors.base import Detection, ReferenceWindowTest
from driftline.detectors.features.calibration import at_ties, fit_log_prefactor, resample_ranks, tie_signature
from driftline.detectors.features.psi import bin_counts, psi, psi_edges, psi_resampled
from driftline.detectors.features.window_counts import at_edges, count, distinct_values, ks_distance

STATISTICS = ("ks", "psi")
RESAMPLES = 1000  # per tie pattern, when a reference is set
_CALIBRATION_METHOD = "numeric-ks-psi"
_CALIBRATION_VERSION = 1
# Bounds on the fitted log prefactors. KS: never above the continuous limit
# 2 (ties only thin the tail), never so low that a rare value seen a few times
# makes a hair trigger. PSI: a guard against a degenerate fit only.
_KS_LOG_PREFACTOR = (math.log(0.01), math.log(2.0))
_PSI_LOG_PREFACTOR = (math.log(0.1), math.log(1000.0))
# The prefactors are upper confidence bounds at this level (see fit_log_prefactor):
# 1000 resamples leave about 15% of noise in a prefactor, and the tails are so
# steep that erring high by that much raises a threshold by about 1%.
CONFIDENCE = 0.9


class NumericDrift(ReferenceWindowTest):
    """Kolmogorov-Smirnov and PSI tests of each window of numeric features against a reference.

    The first ``reference_size`` rows become the reference (unless
    ``set_reference()`` gives one first). From then on, every tumbling window
    of ``window`` rows is compared feature by feature with the reference by
    each of ``statistics``, and every test that rejects is one
    :class:`Detection`, its ``detector`` naming the statistic:

    - ``"ks"``: the two-sample Kolmogorov-Smirnov distance, the largest gap
      between the two empirical distribution functions. Most sensitive to a
      shift of the middle of the distribution.
    - ``"psi"``: the population stability index on ``bins`` bins cut at the
      reference's quantiles (see :mod:`driftline.detectors.features.psi`). It weighs
      every bin alike, so it sees a change of spread or of the tails sooner.

    ``false_alarm_rate`` is the target rate of false alarms per row over all
    features and statistics together: each window runs ``len(features) *
    len(statistics)`` tests, so each test gets ``alpha = false_alarm_rate *
    window / (len(features) * len(statistics))``.

    The thresholds are calibrated on the reference when it is set (see
    :mod:`driftline.detectors.features.calibration`): the null of each statistic is
    bootstrapped from the reference's own values, which keeps the ties of an
    integer-valued or rounded feature, and extrapolated to ``alpha`` along the
    asymptotic tail, ``A exp(-2 t^2)`` for ``t = D sqrt(nm / (n + m))`` and
    ``A chi2_sf(q, bins - 1)`` for ``q = PSI nm / (n + m)``, with ``A`` fitted.
    For a continuous feature the KS threshold is then the usual asymptotic one;
    with ties it is lower, as it should be. A statistic above the threshold for
    ``alpha / 100`` is ``"critical"``, otherwise ``"warning"``. The result is
    :attr:`calibration`, plain data to store with the reference and give back
    to ``set_reference()``.

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
        Seeds the calibration, and the choice of rows when ``set_reference()``
        is given more than ``reference_size`` rows.
    statistics
        Which tests to run: ``("ks", "psi")``, or either one alone.
    bins
        Most bins of the PSI test.

    Notes
    -----
    With the defaults and 10 features, 10 stationary streams of 10^6 rows
    gave 12 false alarms with normal features (with 40 streams more, 42 in
    5 x 10^7 rows: 0.84 per 10^6), 4 with integer-valued, 5 with rounded, 5
    with heavy-tailed (Student t, 1.5 df) and 10 with skewed (gamma 0.5) ones,
    against 10 per 10^7 rows aimed at. A change in one of the 10 features was
    found after (median over 100 streams; KS alone, with the whole budget, in
    brackets): mean + 0.25 sd 1452 rows (1241), 0.5 sd 551 (551), 1 sd 354
    (356); spread x 1.5 636 (1452), x 1.25 2663 (none within 10^4 rows in 93
    of 100). ``python -m tests.detectors.calibrate --only NumericDrift``
    measures it.

    NaN (and any non-finite value) means missing and is left out per feature,
    so ``n`` and ``m`` are the counts of present values. The KS messages also
    give the Wasserstein-1 distance between window and reference, which says
    how far the feature moved in its own units.

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> from driftline.detectors import NumericDrift
    >>> rng = np.random.default_rng(7)
    >>> training = rng.normal(size=(1000, 2))
    >>> det = NumericDrift(["amount", "age"], reference_size=1000, window=500)
    >>> det.set_reference(training)
    >>> later = rng.normal(size=(1500, 2))
    >>> later[700:, 1] += 0.5
    >>> later[700:, 0] *= 1.5
    >>> det.update(later)
    >>> for d in det.detections:
    ...     print(d.detector, d.feature, d.batch_index, d.severity, round(d.value, 3), round(d.threshold, 3))
    psi amount 999 warning 0.104 0.099
    ks age 999 critical 0.177 0.121
    psi age 999 critical 0.172 0.099
    ks amount 1499 warning 0.139 0.121
    psi amount 1499 critical 0.247 0.099
    ks age 1499 critical 0.274 0.121
    psi age 1499 critical 0.393 0.099

    The wider spread of ``amount`` shows in its tails first, so PSI sees it a
    window before KS does.

    The calibration is plain data; given back with the same reference it is
    used as is:

    >>> saved = json.loads(json.dumps(det.calibration))
    >>> again = NumericDrift(["amount", "age"], reference_size=1000, window=500)
    >>> again.set_reference(training, calibration=saved)
    >>> again.calibration == det.calibration
    True

    References
    ----------
    Frank J. Massey. "The Kolmogorov-Smirnov test for goodness of fit."
    Journal of the American Statistical Association 46(253), 1951.
    Bilal Yurdakul. "Statistical properties of population stability index."
    PhD thesis, Western Michigan University, 2018 (PSI's chi-squared limit).
    """

    kind = "data_drift"
    name = "ks"
    names = STATISTICS

    def __init__(
        self,
        features: list[str],
        reference_size: int = 1000,
        window: int = 500,
        false_alarm_rate: float = 1e-6,
        seed: int = 0,
        statistics: tuple[str, ...] = STATISTICS,
        bins: int = 10,
    ) -> None:
        self.features = check_features(features)
        self.reference_size = check_positive_int("reference_size", reference_size)
        self.window = check_positive_int("window", window)
        self.statistics = _check_statistics(statistics)
        self.false_alarm_rate = check_rate(false_alarm_rate, len(self.features), self.window)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.seed = int(seed)
        self.bins = check_positive_int("bins", bins)
        if self.bins < 2:
            raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        d = len(self.features)
        self._ready = False
        self._warm = np.full((self.reference_size, d), np.nan)
        self._warm_fill = 0
        self._ref = np.empty((d, 0))  # per feature sorted, NaN last
        self._ref_n = np.zeros(d, dtype=np.int64)
        # Distinct reference values (padded with inf), how many reference values
        # are at or below each, and the window's counts against them (window_counts).
        self._distinct = np.full((d, 1), np.inf)
        self._n_distinct = np.zeros(d, dtype=np.int64)
        self._cum_ref = np.zeros((d, 1), dtype=np.int64)
        self._below = np.zeros((d, 3), dtype=np.int64)
        self._at_or_below = np.zeros((d, 3), dtype=np.int64)
        self._win = np.full((self.window, d), np.nan)  # the window's rows, for messages
        self._fill = 0
        self._edges = np.full((d, self.bins - 1), np.inf)  # PSI bin edges, inf past a feature's own
        self._edge_cells = np.zeros((d, self.bins - 1), dtype=np.int64)  # their distinct-value indices
        self._n_bins = np.ones(d, dtype=np.int64)
        self._ref_bins = np.zeros((d, self.bins), dtype=np.int64)
        # Thresholds in normalised units, per statistic, level (alpha, alpha / 100) and feature.
        self._thresholds = np.zeros((len(self.statistics), 2, d))
        self._calibration: dict | None = None

    @property
    def alpha(self) -> float:
        """The significance level of each single test."""
        return self.false_alarm_rate * self.window / (len(self.features) * len(self.statistics))

    @property
    def calibration(self) -> dict | None:
        """The thresholds' calibration on the reference, as JSON-able data (None before a reference).

        Per statistic and feature: the fitted log prefactor ``a`` of the tail
        model and the normalised thresholds for ``alpha`` and ``alpha / 100``
        (``t`` for KS, ``q`` for PSI, as in the class docstring). ``ties``
        and ``window_values`` describe each feature's reference as far as the
        calibration depends on it: its count, distinct values and a hash of
        its tie pattern, and the present values a window is expected to hold.
        """
        return copy.deepcopy(self._calibration)

    def set_reference(self, X: np.ndarray, calibration: dict | None = None) -> None:
        """Use the rows of ``X`` (e.g. the training data) as the reference.

        More than ``reference_size`` rows are thinned to a seeded random
        ``reference_size`` of them. ``calibration``, from :attr:`calibration`
        of a detector with the same parameters and a reference with the same
        ties (a continuous feature's only tie pattern is its count), is used
        instead of calibrating again; one that does not fit raises ValueError
        and leaves the detector as it was. A window under way is dropped, so
        that every window is tested against one reference only.
        """
        X = self._check_batch(X)
        if len(X) == 0:
            raise ValueError("the reference needs at least one row")
        if len(X) > self.reference_size:
            rng = np.random.default_rng(self.seed)
            X = X[np.sort(rng.choice(len(X), self.reference_size, replace=False))]
        self._set_reference(X, calibration)

    def _set_reference(self, X: np.ndarray, calibration: dict | None = None) -> None:
        ref = np.sort(X.T, axis=1)
        ref_n = np.count_nonzero(~np.isnan(X), axis=0).astype(np.int64)
        values = [ref[j, :ref_n[j]] for j in range(len(self.features))]
        # What the calibration rests on: each feature's ties, and the values a
        # window is expected to hold (it misses values as often as the reference did).
        ties = [tie_signature(v) for v in values]
        expected = [max(1, round(self.window * len(v) / len(X))) for v in values]
        if calibration is None:
            calibration = self._calibrate(values, ties, expected)
        else:
            calibration = self._check_calibration(calibration, ties, expected)
        width = max(1, max(len(np.unique(v)) for v in values))
        distinct, cum_ref = distinct_values(values, width)
        n_distinct = np.count_nonzero(np.isfinite(distinct), axis=1)
        edges = np.full((len(self.features), self.bins - 1), np.inf)
        edge_cells = np.repeat(n_distinct[:, None], self.bins - 1, axis=1)
        for j, v in enumerate(values):
            e = psi_edges(v, self.bins)
            edges[j, :len(e)] = e
            edge_cells[j, :len(e)] = np.searchsorted(distinct[j, :n_distinct[j]], e)
        self._calibration = calibration
        self._thresholds = np.array([[calibration[s]["threshold"], calibration[s]["critical"]]
                                     for s in self.statistics], dtype=np.float64)
        self._ref = ref
        self._ref_n = ref_n
        self._distinct, self._n_distinct, self._cum_ref = distinct, n_distinct, cum_ref
        self._below = np.zeros((len(self.features), width + 2), dtype=np.int64)
        self._at_or_below = np.zeros_like(self._below)
        self._edges, self._edge_cells = edges, edge_cells
        self._n_bins = 1 + np.count_nonzero(np.isfinite(edges), axis=1)
        self._ref_bins = bin_counts(X, edges, self.bins)
        self._ready = True
        self._warm = np.full((0, len(self.features)), np.nan)
        self._warm_fill = 0
        self._fill = 0

    # ------------------------------------------------------------ calibration

    def _params(self) -> dict:
        return {"features": list(self.features), "reference_size": self.reference_size,
                "window": self.window, "false_alarm_rate": self.false_alarm_rate,
                "statistics": list(self.statistics), "bins": self.bins}

    def _calibrate(self, values: list[np.ndarray], ties: list[str], expected: list[int]) -> dict:
        alpha = self.alpha
        out = {s: {"log_prefactor": [], "threshold": [], "critical": []} for s in self.statistics}
        draws: dict[tuple[int, int], tuple] = {}
        nulls: dict[tuple[str, int], dict] = {}
        for v, sig, m in zip(values, ties, expected):
            n = len(v)
            if n and (sig, m) not in nulls:
                if (n, m) not in draws:
                    # Seeded by the sizes only, so a feature's thresholds do not depend on its neighbours.
                    draws[n, m] = resample_ranks(n, m, RESAMPLES, np.random.default_rng([self.seed, n, m]))
                nulls[sig, m] = self._null(*(at_ties(c, v) for c in draws[n, m]), n, m)
            df = len(psi_edges(v, self.bins))  # bins - 1
            for s in self.statistics:
                if s == "ks":
                    a = (fit_log_prefactor(nulls[sig, m]["ks"], lambda t: -2.0 * t * t, confidence=CONFIDENCE)
                         if n else math.log(2.0))
                    a = min(max(a, _KS_LOG_PREFACTOR[0]), _KS_LOG_PREFACTOR[1])
                    levels = [_ks_threshold(a, alpha), _ks_threshold(a, alpha / 100.0)]
                elif df >= 1:
                    a = fit_log_prefactor(nulls[sig, m]["psi"],
                                          lambda q: math.log(max(chi2_sf(q, df), 1e-300)),
                                          confidence=CONFIDENCE)
                    a = min(max(a, _PSI_LOG_PREFACTOR[0]), _PSI_LOG_PREFACTOR[1])
                    levels = [chi2_isf(min(alpha * math.exp(-a), 0.5), df),
                              chi2_isf(min(alpha / 100.0 * math.exp(-a), 0.5), df)]
                else:  # one bin: nothing to compare, the test does not run
                    a, levels = 0.0, [0.0, 0.0]
                out[s]["log_prefactor"].append(float(a))
                out[s]["threshold"].append(float(levels[0]))
                out[s]["critical"].append(float(levels[1]))
        return {"method": _CALIBRATION_METHOD, "version": _CALIBRATION_VERSION, **self._params(),
                "seed": self.seed, "resamples": RESAMPLES, "alpha": alpha, "ties": list(ties),
                "window_values": list(expected), **out}

    def _null(self, cum_ref: np.ndarray, cum_win: np.ndarray, n: int, m: int) -> dict:
        """The resampled statistics in normalised units (``t`` for KS, ``q`` for PSI)."""
        scale = n * m / (n + m)
        null = {}
        if "ks" in self.statistics:
            null["ks"] = np.abs(cum_ref * m - cum_win * n).max(axis=1) / (n * m) * math.sqrt(scale)
        if "psi" in self.statistics:
            null["psi"] = psi_resampled(cum_ref, cum_win, n, self.bins) * scale
        return null

    def _check_calibration(self, calibration: dict, ties: list[str], expected: list[int]) -> dict:
        check_calibration(calibration, type(self).__name__, _CALIBRATION_METHOD, _CALIBRATION_VERSION,
                          self._params())
        if calibration.get("ties") != ties or calibration.get("window_values") != expected:
            raise ValueError("calibration was made for a reference with other ties or missing "
                             "values than these rows")
        d = len(self.features)
        for s in self.statistics:
            part = calibration.get(s)
            ok = isinstance(part, dict) and all(
                isinstance(part.get(k), list) and len(part[k]) == d
                and all(isinstance(x, (int, float)) and math.isfinite(x) for x in part[k])
                for k in ("log_prefactor", "threshold", "critical"))
            if not ok:
                raise ValueError(f"calibration[{s!r}] must hold {d} finite numbers per "
                                 f"'log_prefactor', 'threshold' and 'critical'")
        return copy.deepcopy(calibration)

    # ------------------------------------------------------------ testing

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
            rows = X[i:i + take]
            self._win[self._fill:self._fill + take] = rows
            below, at_or_below = count(rows, self._distinct, self._n_distinct)
            self._below += below
            self._at_or_below += at_or_below
            self._fill += take
            i += take
            if self._fill == self.window:
                self._test(batch_index=i - 1)
                self._fill = 0
                self._below[:] = 0
                self._at_or_below[:] = 0
        self._n_seen += n

    def _test(self, batch_index: int) -> None:
        n = self._ref_n
        m = self._below[:, :-1].sum(axis=1)
        win_bins = at_edges(self._below, self._edge_cells)
        tested = (n > 0) & (m > 0)
        scale = n * m / np.maximum(n + m, 1)
        values, crit = {}, {}
        for s, (level, level_hi) in zip(self.statistics, self._thresholds):
            if s == "ks":
                root = np.sqrt(np.maximum(scale, 1e-300))
                values[s] = ks_distance(self._cum_ref, n, self._below, self._at_or_below)
                crit[s] = (level / root, level_hi / root)
            else:
                values[s] = psi(self._ref_bins, win_bins, self._n_bins)
                crit[s] = (level / np.maximum(scale, 1e-300), level_hi / np.maximum(scale, 1e-300))
        for j in np.flatnonzero(tested):
            feature = self.features[j]
            for s in self.statistics:
                if s == "psi" and self._n_bins[j] < 2:
                    continue
                self._checked.append((self.kind, s, feature))
                value, threshold, high = values[s][j], crit[s][0][j], crit[s][1][j]
                self._reading(s, feature, value, threshold)
                if value <= threshold:
                    continue
                self._detections.append(Detection(
                    kind=self.kind, detector=s, feature=feature, value=float(value),
                    threshold=float(threshold), batch_index=batch_index,
                    severity="critical" if value > high else "warning",
                    message=self._message(s, j, value, threshold, win_bins[j]),
                ))

    def _message(self, s: str, j: int, value: float, threshold: float, win_bins: np.ndarray) -> str:
        feature, n, m = self.features[j], int(self._ref_n[j]), int(win_bins.sum())
        counts = f"{m} recent values vs {n} reference values"
        if s == "ks":
            # Only for the message, so only for the few features that moved.
            w1 = ks_statistics(self._ref[j:j + 1], self._ref_n[j:j + 1], self._win[:, j:j + 1])[1][0]
            return (f"{feature}: KS statistic {value:.3f} > {threshold:.3f} "
                    f"({counts}; Wasserstein-1 distance {w1:.4g})")
        k = int(self._n_bins[j])
        ref = self._ref_bins[j, :k] / max(n, 1)
        win = win_bins[:k] / max(m, 1)
        b = int(np.argmax(np.abs(win - ref)))
        return (f"{feature}: PSI {value:.3f} > {threshold:.3f} ({k} bins; most changed: "
                f"{_bin_label(self._edges[j, :k - 1], b)} {ref[b]:.1%} -> {win[b]:.1%}; {counts})")

    def _check_batch(self, X: np.ndarray) -> np.ndarray:
        return numeric_batch(type(self).__name__, X, self.features)


def _check_statistics(statistics) -> tuple[str, ...]:
    chosen = (statistics,) if isinstance(statistics, str) else tuple(statistics)
    if not chosen or len(set(chosen)) != len(chosen) or not set(chosen) <= set(STATISTICS):
        raise ValueError(f"statistics must be some of {STATISTICS} without repeats, got {statistics!r}")
    return tuple(s for s in STATISTICS if s in chosen)


def _ks_threshold(log_prefactor: float, alpha: float) -> float:
    """The t with ``exp(log_prefactor - 2 t^2) = alpha``."""
    return math.sqrt(max(log_prefactor - math.log(alpha), 0.0) / 2.0)


def _bin_label(edges: np.ndarray, b: int) -> str:
    if len(edges) == 0:
        return "all"
    if b == 0:
        return f"<= {edges[0]:.4g}"
    if b == len(edges):
        return f"> {edges[-1]:.4g}"
    return f"({edges[b - 1]:.4g}, {edges[b]:.4g}]"


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

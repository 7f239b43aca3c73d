"""Thresholds of two-sample rank tests, calibrated on the reference itself.

A two-sample statistic that only looks at the order of the values (the
Kolmogorov-Smirnov distance, PSI on bins cut at the reference's quantiles)
has a null distribution that depends on the feature only through its ties:
which values repeat and how often. For a continuous feature there are none and
the asymptotic theory is right; an integer-valued or rounded feature ties a lot
and the continuous threshold is then too high, so drift goes unseen.

The helpers here bootstrap that null from the reference: a pseudo-reference
of ``n`` and a pseudo-window of ``m`` values are drawn with replacement from
it, and the statistic is computed from their cumulative counts at each distinct
reference value (:func:`resample_cumulative`). Ties in the reference are kept
with their shares; the ties the bootstrap adds between copies of one
continuous value move the statistics' tails by less than a thousand resamples
can measure. Draws are of ranks, so features with the same number of values
share them (:func:`resample_ranks`, :func:`at_ties`), and features with the
same tie pattern share one null (:func:`tie_signature`).

A thousand resamples measure the 5% tail well, but an alert budget of one
false alarm in 10^6 rows needs tails near 10^-5. :func:`fit_log_prefactor`
bridges the gap with the statistic's asymptotic tail shape: the rate of decay
is kept from theory and only the level (the log prefactor) is fitted at
moderate quantiles. Fitting a scale instead extrapolates too low a threshold
for tied features, whose tails carry a polynomial factor that flattens further
out (for a 50/50 binary feature and the KS statistic fitted at the 5% tail,
18 times the false alarms aimed at for alpha = 5e-5); keeping the rate is exact
for continuous features and errs on the safe side with ties.

>>> import numpy as np
>>> values = np.array([1.0, 2.0, 2.0, 3.0])
>>> tie_signature(values)
'4:3:6a99b4b1f77dd0fc'
>>> cum_ref, cum_win = resample_cumulative(values, 3, resamples=2, rng=np.random.default_rng(0))
>>> cum_ref.shape, cum_ref[:, -1].tolist(), cum_win[:, -1].tolist()
((2, 3), [4, 4], [3, 3])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np

# Levels at which the prefactor is fitted: well inside what 1000 resamples
# measure, and far enough out that the asymptotic shape already holds.
FIT_LEVELS = (0.1, 0.05, 0.02)


def tie_runs(values: np.ndarray) -> np.ndarray:
    """Lengths of the runs of equal values in sorted ``values``."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    return np.diff(np.r_[starts, len(values)]).astype(np.int64)


def tie_signature(values: np.ndarray) -> str:
    """What the null of a rank statistic depends on, as a short string: size, distinct values, run lengths.

    Sorted ``values`` with the same signature have the same null (up to the
    64-bit hash of the run lengths colliding).
    """
    runs = tie_runs(values).astype(np.uint64)
    # A polynomial hash with wrap-around: uint64 arrays overflow silently.
    weights = np.arange(1, 2 * len(runs) + 1, 2, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    h = int(np.sum(runs * weights, dtype=np.uint64))
    return f"{len(values)}:{len(runs)}:{h:016x}"


def resample_ranks(n: int, m: int, resamples: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap samples of ranks of a reference of ``n``, as cumulative counts per rank.

    ``resamples`` pseudo-references of ``n`` and pseudo-windows of ``m``
    ranks drawn from ``0 .. n - 1``; both results are ``(resamples, n)``
    integer arrays whose column ``r`` counts the draws at or below rank ``r``,
    the references' first. They serve every feature with ``n`` present values
    whatever its ties (see :func:`at_ties`), so features share the draws.
    """
    ranks = rng.integers(0, n, size=(resamples, n + m))
    ranks += (np.arange(resamples) * n)[:, None]
    size = resamples * n
    ref = np.bincount(ranks[:, :n].ravel(), minlength=size).reshape(resamples, n)
    win = np.bincount(ranks[:, n:].ravel(), minlength=size).reshape(resamples, n)
    return np.cumsum(ref, axis=1), np.cumsum(win, axis=1)


def at_ties(cumulative: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Columns of :func:`resample_ranks` output at the last rank of each run of ties in sorted ``values``.

    A draw of a rank is a draw of the value at that rank, so these are the
    cumulative counts at each distinct value, ``(resamples, distinct values)``.
    """
    return cumulative[:, np.cumsum(tie_runs(values)) - 1]


def resample_cumulative(values: np.ndarray, m: int, resamples: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative counts at each distinct value of bootstrap samples of sorted ``values``.

    ``resamples`` pseudo-references of ``n = len(values)`` values and
    pseudo-windows of ``m``; both results are ``(resamples, distinct values)``.
    """
    cum_ref, cum_win = resample_ranks(len(values), m, resamples, rng)
    return at_ties(cum_ref, values), at_ties(cum_win, values)


def fit_log_prefactor(null: np.ndarray, log_shape: Callable[[float], float],
                      levels: tuple[float, ...] = FIT_LEVELS, confidence: float = 0.5) -> float:
    """The ``a`` of the tail model ``P(T >= t) = exp(a + log_shape(t))``, fitted on ``null``.

    At each level ``p`` the resampled null gives the quantile ``t`` and the
    share ``P(T >= t)`` (which is at least ``p``, more where the statistic is
    discrete); each gives one estimate of ``a``, and their mean is returned.
    Going out in the tail, the true ``a`` shrinks or stays (ties only thin the
    tail further out), so the estimate errs high, which is the safe side.

    ``confidence`` above one half returns an upper confidence bound instead:
    the mean plus the matching normal quantile times the binomial standard
    error of the estimates (their mean, an upper bound for the error of the
    average of correlated estimates), so that resampling noise leaves the
    false alarms below the target rather than around it.
    """
    null = np.sort(np.asarray(null, dtype=np.float64))
    r = len(null)
    estimates = []
    for p in levels:
        t = float(null[min(r - 1, math.ceil((1.0 - p) * r))])
        share = (r - np.searchsorted(null, t, side="left")) / r
        estimates.append(math.log(share) - log_shape(t))
    error = float(np.mean([math.sqrt((1.0 - p) / (r * p)) for p in levels]))
    return float(np.mean(estimates)) + NormalDist().inv_cdf(confidence) * error

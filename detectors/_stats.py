"""The few distribution functions the detectors need, in plain Python.

SciPy is not a dependency of driftline, so the chi-squared tail comes from a
regularized incomplete gamma function written out here, and the normal
quantile from :class:`statistics.NormalDist`.

>>> round(chi2_sf(3.841458820694124, 1), 6)
0.05
>>> round(chi2_isf(0.05, 10), 4)
18.307
>>> round(ks_c(0.05), 4)
1.3581
"""

from __future__ import annotations

import functools
import math
from statistics import NormalDist

_EPS = 1e-15
_MAX_ITER = 10_000


def ks_c(alpha: float) -> float:
    """The asymptotic two-sample Kolmogorov-Smirnov coefficient c(alpha).

    Reject when ``D > ks_c(alpha) * sqrt((n + m) / (n * m))``.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return math.sqrt(-math.log(alpha / 2.0) / 2.0)


def normal_isf(p: float) -> float:
    """The z with P(Z > z) = p for a standard normal Z."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    return NormalDist().inv_cdf(1.0 - p) if p > 1e-300 else math.inf


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for X chi-squared with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df!r}")
    if x <= 0:
        return 1.0
    return _gamma_q(df / 2.0, x / 2.0)


@functools.lru_cache(maxsize=4096)
def chi2_isf(p: float, df: float) -> float:
    """The x with ``chi2_sf(x, df) == p`` (to about 12 significant digits)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df!r}")
    # Wilson-Hilferty is within a few percent; it only seeds the bracket.
    z = normal_isf(p)
    h = 2.0 / (9.0 * df)
    guess = max(df * (1.0 - h + z * math.sqrt(h)) ** 3, 1e-8)
    lo, hi = guess, guess
    while chi2_sf(lo, df) < p:
        lo /= 2.0
    while chi2_sf(hi, df) > p:
        hi *= 2.0
    # Bisection on log sf: the tail spans hundreds of orders of magnitude,
    # and a bracket halved 200 times is exact to the last float anyway.
    target = math.log(p)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if math.log(max(chi2_sf(mid, df), 1e-320)) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a)."""
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        # The series for P converges fast here; Q = 1 - P loses nothing
        # because Q is not small in this region.
        term = total = 1.0 / a
        ap = a
        for _ in range(_MAX_ITER):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    # Continued fraction for Q (modified Lentz), accurate far into the tail.
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(log_prefix) * h

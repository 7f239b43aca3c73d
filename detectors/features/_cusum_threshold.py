"""Thresholds of a two-sided CUSUM for a target run length to a false alarm.

The CUSUM of :class:`~driftline.detectors.MeanShift` adds standardized,
clipped residuals ``z`` less the allowance ``k``; it alarms when either side
passes ``h``. For increments ``Y`` with a negative mean, the run length to a
false alarm grows exponentially in ``h`` at the rate ``theta`` that solves
``E[exp(theta * Y)] = 1`` (Lundberg's equation: for normal increments
``theta = 2 |E Y| / Var Y``). Siegmund's approximation gives the shape,

    ARL(h) = (exp(theta * b) - theta * b - 1) / (theta * |E Y|),  b = h + rho,

where ``rho`` stands for the overshoot over the boundary (``1.166`` for unit
normal increments). Here ``theta`` and ``E Y`` are computed exactly for the
distribution at hand, so skewed, clipped heavy tails and discrete values are
in the exponent, and ``rho`` is fitted to simulated run lengths at thresholds
low enough to observe them.

The reference location and scale are themselves estimates. Each bootstrap
replicate draws a reference of the same size, estimates location and scale
from it as the detector would, and standardizes the reference distribution
with those: a replicate whose location is 0.05 sd off has one side's drift
reduced by 0.05 and a much shorter run length on that side. The false-alarm
rate is the mean over the replicates of ``1 / ARL``, so the threshold covers
the estimation error too. The threshold asks for twice the target run length
(see ``_MARGIN``) and is never below the clip.

>>> round(gaussian_threshold(k=0.5, clip=3.0, arl=1e6), 2)
12.49
>>> round(float(huber_location(np.array([0.0, 1.0, 2.0, 3.0, 100.0]), 1.0, 2.0)[0]), 3)
2.0

References
----------
D. Siegmund. Sequential Analysis: Tests and Confidence Intervals. Springer, 1985.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

SIEGMUND_RHO = 1.166
_ATOMS = 128  # quantiles that stand for the reference distribution
_REPLICATES = 128  # bootstrap replicates of the reference estimates
_STREAMS, _LENGTH = 128, 256  # simulated streams that fit the overshoot
_MAX_H = 1e6
# The formula's overshoot term is least exact for rare discrete jumps: with the
# run length it asks for, a Bernoulli(0.02) feature gave 30 false alarms where
# 16 were the target. Asking for twice the run length covers that; it costs
# about log(2) / theta in h, a row or so of delay.
_MARGIN = 2.0


def robust_scale(x: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """MAD * 1.4826, or mean absolute deviation * 1.2533 where the MAD is 0 (rows of ``x``)."""
    x = np.atleast_2d(x)
    w = np.ones_like(x) if w is None else np.atleast_2d(w)
    med = weighted_median(x, w)
    dev = np.abs(x - med[:, None])
    mad = weighted_median(dev, w) * 1.4826
    mean_abs = np.sum(dev * w, axis=1) / np.sum(w, axis=1) * 1.2533
    return np.where(mad > 0, mad, mean_abs)


def weighted_median(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The lower weighted median of each row of ``x``."""
    order = np.argsort(x, axis=1, kind="stable")
    xs = np.take_along_axis(x, order, axis=1)
    cw = np.cumsum(np.take_along_axis(w, order, axis=1), axis=1)
    i = np.argmax(cw >= cw[:, -1:] / 2.0, axis=1)
    return xs[np.arange(len(x)), i]


def huber_location(x: np.ndarray, scale, clip: float, w: np.ndarray | None = None) -> np.ndarray:
    """The location mu with mean(clip((x - mu) / scale)) = 0, per row of ``x``.

    That is Huber's M-estimate with the detector's own clip, so that the
    clipped standardized reference has mean zero: the CUSUM's drift is
    exactly ``-k`` on the reference itself.
    """
    x = np.atleast_2d(x)
    w = np.ones_like(x) if w is None else np.atleast_2d(w)
    s = np.atleast_1d(np.asarray(scale, dtype=float))
    med = weighted_median(x, w)
    safe = np.where(s > 0, s, 1.0)
    # At med - clip * s at least half the weight gives +clip: the mean is >= 0;
    # at med + clip * s it is <= 0. Bisection cannot fail, ties and all.
    lo, hi = med - clip * safe, med + clip * safe
    total = np.sum(w, axis=1)
    for _ in range(32):
        mid = 0.5 * (lo + hi)
        g = np.sum(np.clip((x - mid[:, None]) / safe[:, None], -clip, clip) * w, axis=1) / total
        lo, hi = np.where(g > 0, mid, lo), np.where(g > 0, hi, mid)
    return np.where(s > 0, 0.5 * (lo + hi), med)


def standardize(x, loc, scale, clip):
    """clip((x - loc) / scale); with scale 0 any value other than loc is a full +-clip."""
    scale = np.asarray(scale, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(scale > 0, (x - loc) / np.where(scale > 0, scale, 1.0), np.sign(x - loc) * clip)
    return np.clip(u, -clip, clip)


def lundberg(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """theta > 0 with mean(exp(theta * y)) = 1 per row of ``y``, and the mean of ``y``.

    theta is inf where no increment is positive (that side can never alarm)
    and 0 where the mean is not negative (it alarms after about h / mean rows).
    """
    mean = y.mean(axis=1)
    var = y.var(axis=1)
    top = y.max(axis=1)
    ok = (mean < 0) & (top > 0)
    yy = y[ok]
    theta = np.maximum(-2.0 * mean[ok] / np.maximum(var[ok], 1e-300), 1e-6)
    # Newton on the convex g(t) = log mean exp(t y) from the right of its
    # positive root converges monotonically; step right until g > 0 first.
    # The normal-theory start is close: clipping only moves the root a little.
    for _ in range(100):
        t = theta[:, None] * yy
        m = t.max(axis=1, keepdims=True)
        e = np.exp(t - m)
        s = e.sum(axis=1)
        g = m[:, 0] + np.log(s / yy.shape[1])
        dg = (e * yy).sum(axis=1) / s
        step = np.where(g > 1e-13, g / np.maximum(dg, 1e-300),
                        np.where(g < -1e-13, -0.3 * theta, 0.0))  # g < 0: left of the root
        theta = theta - step
        if np.all(np.abs(step) <= 1e-10 * theta):
            break
    out = np.where(top > 0, 0.0, np.inf)
    out[ok] = theta
    return out, mean


def arl(h, theta, mean, rho):
    """Siegmund's approximation of one side's run length (arrays broadcast)."""
    b = np.maximum(h + rho, 1e-9)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        tb = theta * b
        exp_part = (np.expm1(tb) - tb) / (theta * np.abs(mean))
        linear = b / np.maximum(mean, 1e-12)  # drift not negative: about h / drift rows
        return np.where(np.isinf(theta), np.inf, np.where(theta > 0, exp_part, linear))


def rate(h, sides, rho):
    """Mean over replicates of the alarms per row of a two-sided CUSUM."""
    (tu, mu_), (tl, ml), sd = sides
    return np.mean(1.0 / arl(h, tu, mu_, rho * sd) + 1.0 / arl(h, tl, ml, rho * sd), axis=-1)


def solve_h(sides, rho, target_rate):
    """The smallest h whose rate is at most ``target_rate`` (to 1e-7 of it; rate falls with h)."""
    lo, hi = 0.0, 1.0
    while rate(hi, sides, rho) > target_rate and hi < _MAX_H:
        hi *= 2.0
    if hi >= _MAX_H:
        return _MAX_H
    # Grids narrow the bracket a factor 32 per vectorized pass.
    for _ in range(5):
        grid = np.linspace(lo, hi, 33)
        i = int(np.argmax(rate(grid[:, None], sides, rho) <= target_rate))
        lo, hi = grid[max(i - 1, 0)], grid[i]
    return float(hi)


def gaussian_threshold(k: float, clip: float, arl: float) -> float:
    """h for run length ``arl`` with standard normal residuals clipped at ``clip``, known parameters.

    The rho is Siegmund's 1.166 (times the sd of the increments).
    """
    p = (np.arange(2048) + 0.5) / 2048
    z = np.clip(np.array([NormalDist().inv_cdf(q) for q in p]), -clip, clip)[None, :]
    up, down = lundberg(z - k), lundberg(-z - k)
    sides = (up, down, np.array([z.std()]))
    return float(solve_h(sides, SIEGMUND_RHO, 1.0 / arl))


def calibrate_feature(residuals: np.ndarray, k: float, clip: float, arl_target: float,
                      rng: np.random.Generator) -> dict[str, float]:
    """Location, scale and threshold for one feature from its reference residuals.

    ``residuals`` are the reference's values less the lag term, NaN-free.
    Returns plain floats: ``location``, ``scale``, ``threshold``, ``rho`` (the
    fitted overshoot, in sd of the increments) and ``n`` (reference size).
    """
    r = np.sort(np.asarray(residuals, dtype=float))
    n = len(r)
    scale = float(robust_scale(r)[0])
    loc = float(huber_location(r, scale, clip)[0])
    # The bootstrap world: the reference distribution, as equal-weight atoms.
    atoms = r if n <= _ATOMS else r[((np.arange(_ATOMS) + 0.5) * n / _ATOMS).astype(int)]
    a = len(atoms)
    counts = rng.multinomial(n, np.full(a, 1.0 / a), size=_REPLICATES).astype(float)
    x = np.broadcast_to(atoms, counts.shape)
    s_b = robust_scale(x, counts)
    mu_b = huber_location(x, s_b, clip, counts)
    z = standardize(x, mu_b[:, None], s_b[:, None], clip)
    theta, mean = lundberg(np.concatenate([z - k, -z - k]))
    b = len(z)
    sides = ((theta[:b], mean[:b]), (theta[b:], mean[b:]), np.sqrt(np.var(z, axis=1) + 1e-300))
    rho = _fit_rho(atoms, mu_b, s_b, sides, k, clip, rng)
    h = solve_h(sides, rho, 1.0 / (_MARGIN * arl_target))
    # Never below clip, so that one value alone cannot alarm even where the
    # reference never varies (a constant feature has no false alarms at any h).
    h = max(h, clip)
    return {"location": loc, "scale": scale, "threshold": float(h), "rho": float(rho), "n": int(n)}


def _fit_rho(atoms, mu_b, s_b, sides, k, clip, rng) -> float:
    """The overshoot that makes the formula predict the alarms seen in simulated streams."""
    m = min(_STREAMS, len(mu_b))
    idx = rng.integers(0, len(atoms), size=(m, _LENGTH))
    z = standardize(atoms[idx], mu_b[:m, None], s_b[:m, None], clip)
    sub = tuple((t[:m], mn[:m]) for t, mn in sides[:2]) + (sides[2][:m],)
    # Thresholds whose predicted run length is a fraction of the stream length.
    hs = [solve_h(sub, SIEGMUND_RHO, f / _LENGTH) for f in (8.0, 4.0, 2.0)]
    up = _first_passage(z - k, hs)
    down = _first_passage(-z - k, hs)
    first = np.minimum(up, down)  # (thresholds, streams); _LENGTH means none
    events = int(np.sum(first < _LENGTH))
    if events < 20:  # too few to fit anything: keep Siegmund's constant
        return SIEGMUND_RHO
    exposure = np.minimum(first + 1, _LENGTH).astype(float)
    (tu, mu_), (tl, ml), sd = sub

    def expected(rho):  # alarms the formula predicts, for an array of rho
        r = rho[:, None]
        return sum(np.sum((1.0 / arl(h, tu, mu_, r * sd) + 1.0 / arl(h, tl, ml, r * sd))
                          * exposure[i], axis=1) for i, h in enumerate(hs))

    lo, hi = -1.0, 4.0
    if expected(np.array([lo]))[0] < events:
        return lo
    if expected(np.array([hi]))[0] > events:
        return hi
    for _ in range(4):  # expected() falls with rho
        grid = np.linspace(lo, hi, 33)
        i = int(np.argmax(expected(grid) <= events))
        lo, hi = grid[max(i - 1, 0)], grid[i]
    return float(0.5 * (lo + hi))


def _first_passage(y: np.ndarray, hs) -> np.ndarray:
    """Row of the first alarm of the one-sided CUSUM from 0 per stream and threshold.

    Lindley's recursion S_t = max(0, S_{t-1} + y_t) is C_t - min(0, min_{s<=t} C_s)
    for the cumulative sum C, so no loop over rows.
    """
    c = np.cumsum(y, axis=1)
    s = c - np.minimum(np.minimum.accumulate(c, axis=1), 0.0)
    out = []
    for h in hs:
        over = s > h
        out.append(np.where(over.any(axis=1), np.argmax(over, axis=1), y.shape[1]))
    return np.array(out)


def normal_from_t(t, dof):
    """Wallace's normalizing transform of a Student t with ``dof`` degrees of freedom.

    Accurate to a few thousandths for dof >= 5; keeps the sign of t.
    """
    dof = np.asarray(dof, dtype=float)
    return np.sign(t) * (8.0 * dof + 1.0) / (8.0 * dof + 3.0) * np.sqrt(dof * np.log1p(t * t / dof))


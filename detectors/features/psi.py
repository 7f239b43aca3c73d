"""The population stability index on bins cut at the reference's quantiles.

PSI is ``sum((w - r) * ln(w / r))`` over bins, with ``r`` and ``w`` the shares
of reference and window in each bin: the symmetrised Kullback-Leibler
divergence, which ops teams read on a familiar scale (below 0.1 stable, above
0.25 a large shift). Next to the Kolmogorov-Smirnov distance, which is most
sensitive in the middle of a distribution, PSI weighs every decile alike and so
sees a change of spread or of the tails sooner.

PSI rather than the Wasserstein-1 distance as the second statistic: on bins
cut at reference quantiles, PSI depends on the values only through their
ranks, so its null, like the KS one, depends on a feature's ties alone and is
calibrated by the same bootstrap with the chi-squared tail (its limit); its
counts add up as rows arrive. Wasserstein-1 is in the feature's own units, so
its null follows the feature's scale and tails (a heavy-tailed feature gives
it a heavy tail with no known shape to extrapolate), and it weighs a shift by
its size, which KS already covers. The KS messages still report it.

Bins are cut at the reference's quantiles, one after the other, so that each
holds about ``n / bins`` reference values; a value tied with an edge goes
with it into the lower bin, so a discrete feature gets one bin per frequent
value and never splits an atom. The end bins are open, so values outside the
reference's range still count. Shares are smoothed by one count per bin (a
window bin can be empty); with that smoothing the statistic's tail follows the
chi-squared shape used to calibrate it (see :mod:`driftline.detectors.features.calibration`).

>>> import numpy as np
>>> ref = np.sort(np.array([0, 0, 0, 1, 1, 2, 2, 3, 5, 8], dtype=float))
>>> edges = psi_edges(ref, bins=4)
>>> edges.tolist()
[0.0, 2.0]
>>> bin_counts(np.array([[0.0], [7.0], [9.0], [np.nan]]), edges[None, :], 3).tolist()
[[1, 0, 2]]
"""

from __future__ import annotations

import math

import numpy as np

SMOOTHING = 1.0  # pseudo-count added to every bin of both samples


def psi_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Upper edges of all bins but the last, for sorted present ``values``.

    Each step takes the smallest value with at least ``ceil(n / bins)`` more
    reference values at or below it than the previous edge; it stops early
    when the last bin would keep fewer than half that many.
    """
    n = len(values)
    step = math.ceil(n / bins) if n else 0
    edges, done = [], 0
    while n and len(edges) < bins - 1 and done + step <= n:
        v = values[done + step - 1]
        at_or_below = int(np.searchsorted(values, v, side="right"))
        if 2 * (n - at_or_below) < step:
            break
        edges.append(v)
        done = at_or_below
    return np.array(edges, dtype=np.float64)


def bin_counts(X: np.ndarray, edges: np.ndarray, bins: int) -> np.ndarray:
    """Counts per feature and bin of the rows of ``X``; ``edges`` is ``(d, bins - 1)``, padded with inf.

    NaN is left out. The result is ``(d, bins)``.
    """
    k, d = X.shape
    idx = np.empty((k, d), dtype=np.int64)
    for j in range(d):
        idx[:, j] = np.searchsorted(edges[j], X[:, j], side="left")  # x <= edge: the lower bin
    idx[np.isnan(X)] = bins  # a bin past the last, dropped below
    idx += np.arange(d) * (bins + 1)
    return np.bincount(idx.ravel(), minlength=d * (bins + 1)).reshape(d, bins + 1)[:, :bins]


def psi(ref_counts: np.ndarray, win_counts: np.ndarray, n_bins: np.ndarray) -> np.ndarray:
    """PSI of each row's window against its reference; columns past ``n_bins`` are ignored.

    Works on ``(d, bins)`` counts and on ``(resamples, bins)`` alike.
    """
    used = np.arange(ref_counts.shape[-1]) < np.asarray(n_bins)[..., None]
    ref_counts, win_counts = np.where(used, ref_counts, 0), np.where(used, win_counts, 0)
    r = (ref_counts + SMOOTHING) / (ref_counts.sum(-1) + SMOOTHING * n_bins)[..., None]
    w = (win_counts + SMOOTHING) / (win_counts.sum(-1) + SMOOTHING * n_bins)[..., None]
    return np.sum(np.where(used, (w - r) * np.log(w / r), 0.0), axis=-1)


def psi_resampled(cum_ref: np.ndarray, cum_win: np.ndarray, n: int, bins: int) -> np.ndarray:
    """PSI of each resample, from cumulative counts per cell, binned as :func:`psi_edges` bins.

    ``cum_ref`` and ``cum_win`` are ``(resamples, cells)``, as made by
    :func:`~driftline.detectors.features.calibration.resample_cumulative`.
    """
    r, cells = cum_ref.shape
    step = math.ceil(n / bins)
    # Rows of cum_ref laid end to end and lifted apart: one sorted array, so
    # one searchsorted finds each resample's next edge.
    flat = (cum_ref + (np.arange(r) * (n + 1))[:, None]).ravel()
    rows = np.arange(r)
    done = np.zeros(r, dtype=np.int64)
    open_ = np.ones(r, dtype=bool)
    at_edges_ref, at_edges_win = [], []
    for _ in range(bins - 1):
        need = done + step
        open_ &= need <= n
        cell = np.searchsorted(flat, np.minimum(need, n) + rows * (n + 1), side="left") - rows * cells
        c = cum_ref[rows, cell]
        open_ &= 2 * (n - c) >= step
        c = np.where(open_, c, n)
        at_edges_ref.append(c)
        at_edges_win.append(np.where(open_, cum_win[rows, cell], cum_win[:, -1]))
        done = c
    edges_ref = np.stack(at_edges_ref + [cum_ref[:, -1]], axis=1)
    edges_win = np.stack(at_edges_win + [cum_win[:, -1]], axis=1)
    # A resample whose edges stopped early has its last bin where the first
    # closed edge is, and empty columns after it.
    ref_counts = np.diff(edges_ref, axis=1, prepend=0)
    win_counts = np.diff(edges_win, axis=1, prepend=0)
    return psi(ref_counts, win_counts, np.count_nonzero(ref_counts, axis=1))

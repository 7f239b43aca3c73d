"""A window's values counted against the reference's distinct values, as rows arrive.

Both of :class:`~driftline.detectors.NumericDrift`'s statistics only need to
know, for each distinct reference value ``v``, how many window values are at
or below ``v`` and how many are strictly below it. So instead of sorting each
window, every arriving value is located among the reference's distinct values
(one binary search per feature and batch) and counted; at the end of a window
the Kolmogorov-Smirnov distance is read off the cumulative counts, exactly
with ties, and the PSI bins are sums of cells (their edges are reference
values).

Counts are ``(features, cells)`` with ``cells = most distinct values + 2``:
column ``k`` of ``below`` counts window values with ``k`` distinct reference
values strictly below them, column ``k`` of ``at_or_below`` those with ``k``
at or below them, and the last column takes missing values.

>>> import numpy as np
>>> distinct, cum_ref = distinct_values([np.array([1.0, 2.0, 2.0, 5.0])], 3)
>>> distinct.tolist(), cum_ref.tolist()
([[1.0, 2.0, 5.0]], [[1, 3, 4]])
>>> below, at_or_below = count(np.array([[2.0], [3.0], [np.nan], [9.0]]), distinct, 3)
>>> below.tolist(), at_or_below.tolist()
([[0, 1, 1, 1, 1]], [[0, 0, 2, 1, 1]])
>>> ks_distance(cum_ref, np.array([4]), below, at_or_below).round(3).tolist()
[0.417]
"""

from __future__ import annotations

import numpy as np


def distinct_values(values: list[np.ndarray], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's distinct sorted values, and how many reference values are at or below each.

    Both are ``(features, width)``, padded with inf and with the feature's count.
    """
    distinct = np.full((len(values), width), np.inf)
    cum = np.zeros((len(values), width), dtype=np.int64)
    for j, v in enumerate(values):
        u, k = np.unique(v, return_counts=True)
        distinct[j, :len(u)] = u
        cum[j] = len(v)
        cum[j, :len(u)] = np.cumsum(k)
    return distinct, cum


def count(X: np.ndarray, distinct: np.ndarray,
          n_distinct: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of the rows of ``X`` (``(rows, features)``, NaN missing) by cell, ``below`` and ``at_or_below``."""
    k, d = X.shape
    width = distinct.shape[1]
    n_distinct = np.broadcast_to(np.asarray(n_distinct), (d,))
    at_or_below = np.empty((k, d), dtype=np.int64)
    for j in range(d):
        at_or_below[:, j] = np.searchsorted(distinct[j, :n_distinct[j]], X[:, j], side="right")
    # A value equal to a distinct value has one distinct value fewer strictly below it.
    hit = np.take_along_axis(distinct, np.maximum(at_or_below - 1, 0).T, axis=1).T == X
    below = at_or_below - (hit & (at_or_below > 0))
    missing = np.isnan(X)
    cells = width + 2
    offsets = np.arange(d) * cells
    below[missing] = at_or_below[missing] = cells - 1
    return (np.bincount((below + offsets).ravel(), minlength=d * cells).reshape(d, cells),
            np.bincount((at_or_below + offsets).ravel(), minlength=d * cells).reshape(d, cells))


def ks_distance(cum_ref: np.ndarray, ref_n: np.ndarray, below: np.ndarray,
                at_or_below: np.ndarray) -> np.ndarray:
    """The two-sample KS statistic per feature from the reference's and the window's counts.

    Between two consecutive distinct reference values the reference's ECDF
    is flat and the window's rises, so the largest gap there is at one of the
    two ends: the window's count at or below the first value, or strictly
    below the next.
    """
    d, width = cum_ref.shape
    m = below[:, :-1].sum(axis=1)
    le = np.cumsum(below[:, :width], axis=1)  # window values <= each distinct value
    lt = np.cumsum(at_or_below[:, :width + 1], axis=1)  # window values < each, then all
    n, mm = ref_n[:, None], m[:, None]
    c = np.concatenate([np.zeros((d, 1), dtype=np.int64), cum_ref], axis=1)
    a = np.concatenate([np.zeros((d, 1), dtype=np.int64), le], axis=1)
    gaps = np.maximum(np.abs(c * mm - a * n), np.abs(c * mm - lt * n)).max(axis=1)
    return gaps / np.maximum(ref_n * m, 1)


def at_edges(below: np.ndarray, edge_cells: np.ndarray) -> np.ndarray:
    """Window counts per PSI bin: ``edge_cells`` are the indices among the distinct values of each edge.

    ``edge_cells`` is ``(features, bins - 1)``, padded with the feature's
    number of distinct values (an edge above everything).
    """
    le = np.cumsum(below[:, :-1], axis=1)
    total = le[:, -1:]
    upto = np.take_along_axis(le, edge_cells, axis=1)
    return np.diff(np.concatenate([np.zeros_like(total), upto, total], axis=1), axis=1)

"""A random forest of histogram trees, in numpy: the default trainer's nonlinear learner.

Every feature is first turned into small integer bins (:class:`Binner`):
numbers into quantile bins of the training values, categories into codes.
Trees are then grown a level at a time, every node of a level at once: for
each numeric feature the rows stay sorted by (node, bin), so one cumulative
sum of class weights scores every threshold of every node; a category's
splits come from a (node, category, class) histogram. The Python work is per
level and feature, not per node, so a forest on 20k rows trains in seconds.

A split sends a node's rows left if their bin is in a set: bins up to a
threshold for a number, the categories with the smallest share of the node's
majority class for a category (for two classes this ordering finds the best
binary partition of the categories; Breiman et al., 1984). Each split is the
best Gini reduction over a random subset of the features, each tree is grown
on a bootstrap sample, and the forest averages the trees' class shares.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> x = rng.uniform(0, 10, size=(600, 2))
>>> colour = rng.choice(["red", "blue", "green"], size=600)
>>> y = ((x[:, 0] > 5) ^ (colour == "red")).astype(int)
>>> binner = Binner().fit({"a": x[:, 0], "b": x[:, 1], "colour": colour.tolist()},
...                       {"a": "number", "b": "number", "colour": "category"})
>>> B = binner.transform({"a": x[:, 0], "b": x[:, 1], "colour": colour.tolist()})
>>> forest = HistogramForest(n_trees=10, seed=0).fit(B, y, n_classes=2, categorical=binner.categorical)
>>> test = binner.transform({"a": [8.0, 2.0, 8.0], "b": [1.0, 1.0, 1.0], "colour": ["blue", "blue", "red"]})
>>> forest.predict_proba(test).argmax(axis=1).tolist()
[1, 0, 0]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

# Bins are stored as uint8: up to 255 per feature.
MAX_BINS = 255
_DEPTH_LIMIT = 40


class Binner:
    """Maps numeric and categorical columns to bin codes ``0..n_bins-1`` (uint8).

    Numbers: with at most ``max_bins`` distinct training values, each value
    has its own bin (edges halfway between neighbours); otherwise the edges
    are quantiles of the training values. A missing number goes to the bin of
    the training median. Categories: the ``max_bins - 1`` most frequent
    training categories get a code each; the rest, missing values and
    categories never seen in training share the last code.

    >>> b = Binner(max_bins=4).fit({"n": [1.0, 2.0, 3.0, None], "c": ["x", "y", "x", None]},
    ...                            {"n": "number", "c": "category"})
    >>> b.transform({"n": [1.0, 2.5, None, 9.0], "c": ["x", "y", "z", None]}).tolist()
    [[0, 0], [2, 1], [1, 2], [2, 2]]
    """

    def __init__(self, max_bins: int = MAX_BINS):
        if not 2 <= max_bins <= MAX_BINS:
            raise ValueError(f"max_bins must be between 2 and {MAX_BINS}, got {max_bins}")
        self.max_bins = max_bins

    def fit(self, columns: Mapping[str, Sequence[Any]], types: Mapping[str, str]) -> Binner:
        self.features = list(types)
        self.categorical = np.array([types[f] != "number" for f in self.features])
        self._edges: dict[str, np.ndarray] = {}
        self._fill: dict[str, float] = {}
        self._codes: dict[str, dict[str, int]] = {}
        for name in self.features:
            if types[name] == "number":
                x = np.asarray(columns[name], dtype=np.float64)
                x = x[~np.isnan(x)]
                self._edges[name] = _edges(x, self.max_bins)
                self._fill[name] = float(np.median(x)) if len(x) else 0.0
            else:
                counts: dict[str, int] = {}
                for v in columns[name]:
                    if v is not None:
                        counts[v] = counts.get(v, 0) + 1
                top = sorted(counts, key=lambda c: (-counts[c], c))[: self.max_bins - 1]
                self._codes[name] = {c: i for i, c in enumerate(top)}
        self.n_bins = np.array([len(self._edges[f]) + 1 if f in self._edges else len(self._codes[f]) + 1
                                for f in self.features], dtype=np.int64)
        return self

    def transform(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """A ``(rows, features)`` uint8 matrix; ``columns`` may lack features (all missing)."""
        n = _length(columns, self.features)
        out = np.empty((n, len(self.features)), dtype=np.uint8)
        for j, name in enumerate(self.features):
            values = columns.get(name)
            if name in self._edges:
                x = np.full(n, np.nan) if values is None else np.asarray(values, dtype=np.float64)
                x = np.where(np.isnan(x), self._fill[name], x)
                out[:, j] = np.searchsorted(self._edges[name], x, side="right")
            else:
                codes, other = self._codes[name], len(self._codes[name])
                out[:, j] = other if values is None else [codes.get(v, other) for v in values]
        return out


def _length(columns: Mapping[str, Sequence[Any]], names: Iterable[str]) -> int:
    for name in names:
        if columns.get(name) is not None:
            return len(columns[name])
    return len(next(iter(columns.values()))) if columns else 0


def _edges(x: np.ndarray, max_bins: int) -> np.ndarray:
    distinct = np.unique(x)
    if len(distinct) <= max_bins:
        return (distinct[:-1] + distinct[1:]) / 2
    # Quantile edges on the values themselves, so each bin holds about as many rows.
    return np.unique(np.quantile(x, np.linspace(0, 1, max_bins + 1)[1:-1], method="higher"))


class HistogramForest:
    """A bagged forest of Gini trees grown on binned features.

    Parameters
    ----------
    n_trees
        Number of trees.
    max_features
        Share of the features each split chooses from (at least one).
    min_leaf
        Smallest (bootstrap-weighted) number of rows in a leaf.
    max_depth
        Deepest level a tree grows to.
    seed
        Seeds the bootstrap samples and the feature draws.
    """

    def __init__(self, n_trees: int = 24, max_features: float = 0.75, min_leaf: int = 3,
                 max_depth: int = 24, seed: int = 0):
        if n_trees < 1:
            raise ValueError(f"n_trees must be >= 1, got {n_trees}")
        if not 0.0 < max_features <= 1.0:
            raise ValueError(f"max_features must be in (0, 1], got {max_features}")
        if min_leaf < 1 or not 1 <= max_depth <= _DEPTH_LIMIT:
            raise ValueError(f"min_leaf must be >= 1 and max_depth in 1..{_DEPTH_LIMIT}")
        self.n_trees = n_trees
        self.max_features = max_features
        self.min_leaf = min_leaf
        self.max_depth = max_depth
        self.seed = seed

    def fit(self, B: np.ndarray, y: np.ndarray, n_classes: int,
            categorical: np.ndarray | None = None) -> HistogramForest:
        """Grow the forest on bins ``B`` (rows x features, uint8) and class indices ``y``."""
        B = np.asarray(B, dtype=np.int64)
        y = np.asarray(y, dtype=np.int64)
        if B.ndim != 2 or len(B) != len(y) or len(y) == 0:
            raise ValueError("B must be a non-empty (rows, features) matrix with one label per row")
        self.n_classes = n_classes
        cat = np.zeros(B.shape[1], dtype=bool) if categorical is None else np.asarray(categorical, bool)
        rng = np.random.default_rng(self.seed)
        trees = [_Tree(B, y, n_classes, cat, self, rng) for _ in range(self.n_trees)]
        # One flat node table for the whole forest, so prediction walks every tree at once.
        nodes = np.cumsum([0] + [len(t.feature) for t in trees[:-1]])
        masks = np.cumsum([0] + [len(t.masks) for t in trees[:-1]])
        self._feature = np.concatenate([t.feature for t in trees])
        self._threshold = np.concatenate([t.threshold for t in trees])
        self._mask_row = np.concatenate([np.where(t.mask_row >= 0, t.mask_row + o, -1)
                                         for t, o in zip(trees, masks)])
        width = max(t.masks.shape[1] for t in trees)
        self._masks = np.concatenate([np.pad(t.masks, ((0, 0), (0, width - t.masks.shape[1])))
                                      for t in trees] + [np.zeros((1, width), dtype=bool)])
        self._child = np.concatenate([np.where(t.child >= 0, t.child + o, -1)
                                      for t, o in zip(trees, nodes)])
        self._value = np.concatenate([t.value for t in trees])
        self._roots = nodes.astype(np.int64)
        self._depth = max(t.depth for t in trees)
        # Out of bag: each training row as judged by the trees that did not sample it.
        out = np.stack([t.out_of_bag for t in trees], axis=1)
        votes = (self._value[self._leaves(B)] * out[:, :, None]).sum(axis=1)
        with np.errstate(invalid="ignore"):
            self.oob_proba_ = votes / out.sum(axis=1, keepdims=True)
        return self

    def predict_proba(self, B: np.ndarray) -> np.ndarray:
        """Class shares averaged over the trees, ``(rows, n_classes)``."""
        return self._value[self._leaves(B)].mean(axis=1)

    def _leaves(self, B: np.ndarray) -> np.ndarray:
        """The leaf each row reaches in each tree, ``(rows, trees)``."""
        B = np.asarray(B, dtype=np.int64)
        n = len(B)
        node = np.broadcast_to(self._roots, (n, len(self._roots))).copy()
        rows = np.arange(n)[:, None]
        width = self._masks.shape[1]
        for _ in range(self._depth):
            f = self._feature[node]
            inner = f >= 0
            if not inner.any():
                break
            b = B[rows, np.where(inner, f, 0)]
            row = self._mask_row[node]
            left = np.where(row >= 0, self._masks[row, np.minimum(b, width - 1)],
                            b <= self._threshold[node])
            node = np.where(inner, self._child[node, np.where(left, 0, 1)], node)
        return node


class _Tree:
    """One tree grown level by level on a bootstrap sample.

    Node arrays: ``feature`` (-1 for a leaf), ``threshold`` (a number goes
    left if its bin is at most this), ``mask_row`` (for a category: the row
    of ``masks`` that says which bins go left), ``child`` (left, right) and
    ``value`` (class shares of the node's rows).

    For each numeric feature the tree keeps its rows sorted by (node, bin):
    splitting a level keeps that order with one stable partition by child,
    so no level sorts anything. Categories are few, so a category's splits
    come from a (node, category, class) histogram instead.
    """

    def __init__(self, B: np.ndarray, y: np.ndarray, K: int, cat: np.ndarray, p: HistogramForest,
                 rng: np.random.Generator):
        n, d = B.shape
        weight = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        self.out_of_bag = weight == 0
        sample = np.flatnonzero(weight)
        B, y, w = B[sample], y[sample], weight[sample]
        S = len(sample)
        onehot = np.zeros((S, K))
        onehot[np.arange(S), y] = w
        n_cat_bins = int(B[:, cat].max()) + 1 if cat.any() else 1
        mtry = max(1, int(round(p.max_features * d)))
        numeric = np.flatnonzero(~cat)
        orders = [np.argsort(B[:, j], kind="stable") for j in numeric]
        live = np.arange(S)  # rows of nodes that may still split, ordered by node
        node = np.zeros(S, dtype=np.int64)  # each live row's node, numbered within its level
        feature, threshold, mask_row, child, value = [], [], [], [], []
        masks: list[np.ndarray] = []
        n_nodes, m, depth = 1, 1, 0
        while True:
            total = np.zeros((m, K))
            np.add.at(total, (node[live], y[live]), w[live])
            value.append(total / total.sum(axis=1, keepdims=True))
            ok = np.zeros(m, dtype=bool)
            if depth < p.max_depth:
                split = _Splits(m, d, n_cat_bins, total, p.min_leaf)
                for j, order in zip(numeric, orders):
                    split.numeric(j, node[order], B[order, j], onehot[order])
                for j in np.flatnonzero(cat):
                    split.categorical(j, node[live], B[live, j], y[live], w[live])
                f_best, cut, bigger_left = split.choose(mtry, rng)
                ok = f_best >= 0
            rows_mask = np.full(m, -1)
            if not ok.any():
                feature.append(np.full(m, -1))
                threshold.append(np.full(m, -1))
                mask_row.append(rows_mask)
                child.append(np.full((m, 2), -1))
                break
            f_safe = np.maximum(f_best, 0)
            is_cat = ok & cat[f_safe]
            split_cat = np.flatnonzero(is_cat)
            if len(split_cat):
                # Categories ranked up to the cut go left; those the node never saw
                # follow the larger side.
                r = split.ranks[split_cat, f_safe[split_cat]]
                mk = np.where(r < n_cat_bins, r <= cut[split_cat, None], bigger_left[split_cat, None])
                rows_mask[split_cat] = len(masks) + np.arange(len(split_cat))
                masks.extend(mk)
            n_split = int(ok.sum())
            first = n_nodes + np.cumsum(ok) * 2 - 2
            kids = np.where(ok[:, None], first[:, None] + np.arange(2), -1)
            feature.append(np.where(ok, f_best, -1))
            threshold.append(np.where(ok & ~is_cat, cut, -1))
            mask_row.append(rows_mask)
            child.append(kids)
            # Every live row of a split node moves to its child; the others are done.
            moving = live[ok[node[live]]]
            nd = node[moving]
            b = B[moving, f_safe[nd]]
            go_left = b <= cut[nd]
            if len(split_cat):
                by_mask = rows_mask[nd] >= 0
                position = rows_mask[nd[by_mask]] - (len(masks) - len(split_cat))
                go_left[by_mask] = mk[position, b[by_mask]]
            node[moving] = kids[nd, np.where(go_left, 0, 1)] - n_nodes
            split_rows = np.zeros(S, dtype=bool)
            split_rows[moving] = True
            orders = [_partition(o[split_rows[o]], node) for o in orders]
            live = _partition(live[split_rows[live]], node)
            n_nodes += 2 * n_split
            m = 2 * n_split
            depth += 1
        self.feature = np.concatenate(feature)
        self.threshold = np.concatenate(threshold)
        self.mask_row = np.concatenate(mask_row)
        self.masks = np.array(masks, dtype=bool).reshape(len(masks), n_cat_bins)
        self.child = np.concatenate(child)
        self.value = np.concatenate(value)
        self.depth = depth


def _partition(order: np.ndarray, node: np.ndarray) -> np.ndarray:
    """``order`` stably sorted by the rows' new nodes (a radix sort when they fit 16 bits)."""
    keys = node[order]
    if len(keys) and keys.max() < 65536:
        keys = keys.astype(np.uint16)
    return order[np.argsort(keys, kind="stable")]


class _Splits:
    """The best split per (node, feature) of one level, then the choice per node."""

    def __init__(self, m: int, d: int, n_cat_bins: int, total: np.ndarray, min_leaf: int):
        self.m, self.n_cat_bins, self.total, self.min_leaf = m, n_cat_bins, total, min_leaf
        self.n_node = total.sum(axis=1)
        self.best = np.full((m, d), -np.inf)
        self.cut = np.full((m, d), -1, dtype=np.int64)
        self.left_weight = np.zeros((m, d))
        self.ranks = np.full((m, d, n_cat_bins), n_cat_bins, dtype=np.int64)

    def _score(self, L: np.ndarray, node: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gini criterion (larger is better) of splits with left class weights ``L``; -inf if invalid."""
        nL = L.sum(axis=-1)
        nR = self.n_node[node] - nL
        valid = (nL >= self.min_leaf) & (nR >= self.min_leaf)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (L ** 2).sum(axis=-1) / nL + ((self.total[node] - L) ** 2).sum(axis=-1) / nR
        return np.where(valid, score, -np.inf), nL, valid

    def numeric(self, j: int, nd: np.ndarray, b: np.ndarray, weights: np.ndarray) -> None:
        """Candidates between consecutive bins of a node; rows come sorted by (node, bin)."""
        boundary = np.flatnonzero((nd[:-1] == nd[1:]) & (b[:-1] != b[1:]))
        if not len(boundary):
            return
        cum = np.cumsum(weights, axis=0)
        starts = np.searchsorted(nd, np.arange(self.m))
        base = np.where((starts > 0)[:, None], cum[np.maximum(starts - 1, 0)], 0.0)
        node = nd[boundary]
        score, nL, valid = self._score(cum[boundary] - base[node], node)
        if not valid.any():
            return
        boundary, node, score, nL = boundary[valid], node[valid], score[valid], nL[valid]
        top = np.full(self.m, -np.inf)
        np.maximum.at(top, node, score)
        hit = np.flatnonzero(score >= top[node])
        nodes, first = np.unique(node[hit], return_index=True)
        pick = hit[first]
        self.best[nodes, j] = score[pick]
        self.left_weight[nodes, j] = nL[pick]
        # The threshold halfway between the two bins, for values the node never saw.
        self.cut[nodes, j] = (b[boundary[pick]] + b[boundary[pick] + 1]) // 2

    def categorical(self, j: int, nd: np.ndarray, b: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        """Cuts in each node's order of categories by their share of the node's majority class."""
        m, c = self.m, self.n_cat_bins
        K = self.total.shape[1]
        H = np.bincount((nd * c + b) * K + y, weights=w, minlength=m * c * K).reshape(m, c, K)
        count = H.sum(axis=2)
        major = self.total.argmax(axis=1)
        share = np.where(count > 0, H[np.arange(m), :, major] / np.maximum(count, 1e-300), np.inf)
        order = np.argsort(share, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(c)[None, :], axis=1)
        self.ranks[:, j] = np.where(count > 0, rank, c)
        L = np.cumsum(np.take_along_axis(H, order[:, :, None], axis=1), axis=1)[:, :-1]
        if not L.shape[1]:
            return
        score, nL, _ = self._score(L, np.broadcast_to(np.arange(m)[:, None], L.shape[:2]))
        k = score.argmax(axis=1)
        rows = np.arange(m)
        self.best[:, j] = score[rows, k]
        self.left_weight[:, j] = nL[rows, k]
        self.cut[:, j] = k

    def choose(self, mtry: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per node: the best of ``mtry`` random splittable features, or -1 when no split gains."""
        m, d = self.best.shape
        keys = np.where(np.isfinite(self.best), rng.random((m, d)), 2.0)
        kth = np.sort(keys, axis=1)[:, mtry - 1:mtry]
        chosen = np.where(keys <= kth, self.best, -np.inf)
        f = chosen.argmax(axis=1)
        rows = np.arange(m)
        parent = (self.total ** 2).sum(axis=1) / self.n_node
        gain = np.isfinite(chosen[rows, f]) & (chosen[rows, f] > parent * (1 + 1e-9))
        return (np.where(gain, f, -1), self.cut[rows, f],
                2 * self.left_weight[rows, f] >= self.n_node)

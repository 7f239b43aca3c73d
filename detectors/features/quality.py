"""Data quality: the share of bad values of each kind per feature and window."""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from driftline.detectors._checks import check_features, check_positive_int, check_rate
from driftline.detectors.base import Detection, Detector

# The monitor builds these codes; new ones are only ever added at the end.
OK, MISSING, WRONG_TYPE, OUT_OF_RANGE, UNSEEN_CATEGORY, NON_FINITE = 0, 1, 2, 3, 4, 5
# Each kind of problem has its own rate and threshold. Missing and wrongly
# typed values stay one kind, as they always were: either way the value is unusable.
PROBLEMS = {"invalid": (MISSING, WRONG_TYPE), "out_of_range": (OUT_OF_RANGE,),
            "unseen_category": (UNSEEN_CATEGORY,), "non_finite": (NON_FINITE,)}
_CODE_NAMES = {MISSING: "missing", WRONG_TYPE: "wrong type"}


class DataQuality(Detector):
    """Flags features whose rate of one kind of bad value in a tumbling window is too high.

    ``update(codes)`` takes an integer array of shape (n, len(features)) with
    one code per value: ``OK`` (0), ``MISSING`` (1: null or absent),
    ``WRONG_TYPE`` (2: e.g. a string where the feature is numeric),
    ``OUT_OF_RANGE`` (3: a number outside the reference's range, widened by
    a margin), ``UNSEEN_CATEGORY`` (4: a category the reference never had)
    or ``NON_FINITE`` (5: NaN or infinity where a number is expected). The
    monitor builds them while it decodes the features, so this detector
    never sees the raw values; :func:`numeric_codes` and
    :func:`category_codes` add codes 3 to 5 from a reference profile.

    Each kind of problem has its own rate per feature and window, and its
    own threshold: ``max_rate``, or the kind's entry in ``max_rates``. The
    kinds are ``"invalid"`` (missing or wrongly typed, together as before),
    ``"out_of_range"``, ``"unseen_category"`` and ``"non_finite"``. The
    thresholds are rates, not tests, but a window that crosses one by a
    handful of values is noise: a feature fires only when its count of a
    kind is so high that a true rate at the threshold would reach it with
    probability at most ``alpha`` (an exact binomial bound), and it is
    ``"critical"`` when the same holds against twice the threshold. ``alpha
    = false_alarm_rate * window / (len(features) * 4)``: one test per
    feature and kind per window, at the worst case of a true rate sitting at
    the threshold (a feature well below it alarms far less often).

    Parameters
    ----------
    features
        Names, in column order.
    window
        Rows per tumbling window.
    max_rate
        Highest acceptable share of values of any one kind of problem.
    max_rates
        Per kind (``"invalid"``, ``"out_of_range"``, ``"unseen_category"``,
        ``"non_finite"``), a threshold other than ``max_rate``.
    false_alarm_rate
        Target false alarms per row, over all features and kinds, when every
        rate sits at its threshold.

    Notes
    -----
    One detection per feature and window at most: ``value`` and ``threshold``
    are those of the kind that is furthest over its threshold, and the
    message lists every kind that fired.

    Examples
    --------
    >>> import numpy as np
    >>> det = DataQuality(["amount", "country"], window=200, max_rate=0.05)
    >>> round(det.alpha, 12)
    2.5e-05
    >>> det.min_count("invalid")  # of 200 values: a rate of 0.05 plus support
    26
    >>> codes = np.zeros((600, 2), dtype=np.int8)
    >>> codes[200:400, 0] = np.where(np.arange(200) % 12 == 0, MISSING, OK)  # 8.5%: noise?
    >>> codes[400:, 0] = np.where(np.arange(200) % 6 == 0, MISSING, OK)  # 17%
    >>> codes[400:, 1] = np.where(np.arange(200) % 4 == 0, UNSEEN_CATEGORY, OK)  # 25%
    >>> det.update(codes)
    >>> for d in det.detections:
    ...     print(d.feature, d.batch_index, d.severity, d.value)
    amount 599 warning 0.17
    country 599 critical 0.25
    >>> print(det.detections[0].message)
    amount: 17.0% of the last 200 values are missing or of the wrong type (limit 5.0%: 34 of 200, firing from 26; missing 17.0%; wrong type 0.0%)
    >>> print(det.detections[1].message)
    country: 25.0% of the last 200 values are unseen_category (limit 5.0%: 50 of 200, firing from 26)
    """

    kind = "data_quality"
    name = "quality"

    def __init__(self, features: list[str], window: int = 500, max_rate: float = 0.05,
                 max_rates: dict[str, float] | None = None, false_alarm_rate: float = 1e-6) -> None:
        self.features = check_features(features)
        self.window = check_positive_int("window", window)
        self.max_rate = _check_share("max_rate", max_rate)
        if max_rates is not None:
            if not isinstance(max_rates, dict) or not set(max_rates) <= set(PROBLEMS):
                raise ValueError(f"max_rates must map some of {tuple(PROBLEMS)} to rates, "
                                 f"got {max_rates!r}")
            max_rates = {k: _check_share(f"max_rates[{k!r}]", v) for k, v in max_rates.items()}
        self.max_rates = max_rates
        self.false_alarm_rate = check_rate(false_alarm_rate, len(self.features) * len(PROBLEMS), self.window)
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._fill = 0
        self._counts = np.zeros((NON_FINITE + 1, len(self.features)), dtype=np.int64)  # per code

    @property
    def alpha(self) -> float:
        """The significance level of each feature's test of each kind."""
        return self.false_alarm_rate * self.window / (len(self.features) * len(PROBLEMS))

    def threshold(self, problem: str) -> float:
        """The highest acceptable share of values with ``problem``."""
        if problem not in PROBLEMS:
            raise ValueError(f"problem must be one of {tuple(PROBLEMS)}, got {problem!r}")
        return (self.max_rates or {}).get(problem, self.max_rate)

    def min_count(self, problem: str, critical: bool = False) -> int:
        """Values with ``problem`` in one window from which the feature fires."""
        rate = self.threshold(problem) * (2.0 if critical else 1.0)
        return binomial_min_count(self.window, min(rate, 1.0), self.alpha)

    def update(self, codes: np.ndarray) -> None:
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != len(self.features):
            raise ValueError(f"expected codes of shape (n, {len(self.features)}), got {codes.shape}")
        self._begin()
        start = 0
        n = codes.shape[0]
        while start < n:
            take = min(self.window - self._fill, n - start)
            chunk = codes[start:start + take]
            for c in range(1, NON_FINITE + 1):
                self._counts[c] += (chunk == c).sum(axis=0)
            self._fill += take
            start += take
            self._n_seen += take
            if self._fill == self.window:
                self._close_window(start - 1)

    def _close_window(self, batch_index: int) -> None:
        kinds = [(kind, codes, self.min_count(kind), self.min_count(kind, critical=True),
                  self.threshold(kind)) for kind, codes in PROBLEMS.items()]
        for j, name in enumerate(self.features):
            self._checked.append((self.kind, self.name, name))
            fired = []
            for kind, codes, need, need_critical, limit in kinds:
                count = int(sum(self._counts[c, j] for c in codes))
                if count >= need:
                    fired.append((count / self.window / limit, kind, codes, count, need,
                                  count >= need_critical, limit))
            if not fired:
                continue
            fired.sort(key=lambda f: f[0], reverse=True)
            _, kind, codes, count, need, _, limit = fired[0]
            rate = count / self.window
            what = "missing or of the wrong type" if kind == "invalid" else kind
            parts = [f"{_CODE_NAMES[c]} {self._counts[c, j] / self.window:.1%}"
                     for c in codes if len(codes) > 1]
            parts += [f"{f[1]} {f[3] / self.window:.1%}" for f in fired[1:]]
            self._detections.append(Detection(
                kind=self.kind, detector=self.name, feature=name, value=rate,
                threshold=limit, batch_index=batch_index,
                severity="critical" if any(f[5] for f in fired) else "warning",
                message=(f"{name}: {rate:.1%} of the last {self.window} values are {what} "
                         f"(limit {limit:.1%}: {count} of {self.window}, firing from {need}"
                         + "".join(f"; {p}" for p in parts) + ")")))
        self._fill = 0
        self._counts[:] = 0


def _check_share(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)


@functools.lru_cache(maxsize=1024)
def binomial_min_count(n: int, p: float, alpha: float) -> int:
    """The least k with P(Binomial(n, p) >= k) <= alpha (n + 1 if there is none)."""
    if p >= 1.0:
        return n + 1
    log_p, log_q = math.log(p), math.log1p(-p)
    log_pmf = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q
               for k in range(n + 1)]
    tail = 0.0
    for k in range(n, -1, -1):  # P(X >= k), accumulated from the top
        tail += math.exp(log_pmf[k])
        if tail > alpha:
            return k + 1
    return 0


def numeric_codes(X: np.ndarray, ranges: list[list[float]], codes: np.ndarray | None = None) -> np.ndarray:
    """Codes for numeric columns: ``NON_FINITE`` and ``OUT_OF_RANGE`` added to ``codes``.

    ``X`` is ``(n, d)`` floats; ``ranges`` one ``[low, high]`` per column
    (from :func:`numeric_ranges`); ``codes`` the codes already known
    (missing, wrong type), which are kept. A value whose code is still
    ``OK`` becomes ``NON_FINITE`` if it is NaN or infinite, and
    ``OUT_OF_RANGE`` if it lies outside its column's range.

    >>> numeric_codes(np.array([[1.0, 5.0], [np.inf, -1.0], [np.nan, 2.0]]), [[0, 2], [0, 4]],
    ...               np.array([[0, 0], [0, 0], [1, 0]])).tolist()
    [[0, 3], [5, 3], [1, 0]]
    """
    X = np.asarray(X, dtype=np.float64)
    codes = np.zeros(X.shape, dtype=np.int8) if codes is None else np.array(codes, dtype=np.int8)
    bounds = np.asarray(ranges, dtype=np.float64).reshape(-1, 2)
    if X.ndim != 2 or X.shape[1] != len(bounds) or codes.shape != X.shape:
        raise ValueError(f"expected X and codes of shape (n, {len(bounds)}), got {X.shape} and {codes.shape}")
    ok = codes == OK
    finite = np.isfinite(X)
    codes[ok & ~finite] = NON_FINITE
    with np.errstate(invalid="ignore"):
        outside = (X < bounds[:, 0]) | (X > bounds[:, 1])
    codes[ok & finite & outside] = OUT_OF_RANGE
    return codes


def numeric_ranges(X: np.ndarray, margin: float = 0.1) -> list[list[float]]:
    """Per column of reference rows, ``[low, high]``: the finite range widened by ``margin`` of its width.

    >>> numeric_ranges(np.array([[0.0, 1.0], [10.0, 1.0], [np.nan, np.inf]]))
    [[-1.0, 11.0], [1.0, 1.0]]
    """
    X = np.asarray(X, dtype=np.float64)
    out = []
    for col in X.T:
        col = col[np.isfinite(col)]
        if len(col) == 0:
            out.append([-math.inf, math.inf])
            continue
        lo, hi = float(col.min()), float(col.max())
        out.append([lo - margin * (hi - lo), hi + margin * (hi - lo)])
    return out


def category_codes(C: np.ndarray, categories: list[list[str]], codes: np.ndarray | None = None) -> np.ndarray:
    """Codes for categorical columns: ``UNSEEN_CATEGORY`` added where a value is not in its column's set.

    ``C`` is ``(n, d)`` of strings (None for missing, left to ``codes``);
    ``categories`` one list of the reference's categories per column.

    >>> category_codes(np.array([["NL", "a"], ["XX", None]], dtype=object), [["NL", "DE"], ["a"]]).tolist()
    [[0, 0], [4, 0]]
    """
    C = np.asarray(C, dtype=object)
    codes = np.zeros(C.shape, dtype=np.int8) if codes is None else np.array(codes, dtype=np.int8)
    if C.ndim != 2 or C.shape[1] != len(categories) or codes.shape != C.shape:
        raise ValueError(f"expected C and codes of shape (n, {len(categories)}), "
                         f"got {C.shape} and {codes.shape}")
    for j, known in enumerate(categories):
        known = set(known)
        for i, v in enumerate(C[:, j]):
            if codes[i, j] == OK and v is not None and v not in known:
                codes[i, j] = UNSEEN_CATEGORY
    return codes

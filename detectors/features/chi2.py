"""Data drift in categorical features: two-sample chi-squared test per window."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter

import numpy as np

from driftline.detectors._checks import (
    check_calibration, check_features, check_positive_int, check_rate,
)
from driftline.detectors._stats import chi2_isf, chi2_sf
from driftline.detectors.base import Detection, ReferenceWindowTest
from driftline.detectors.features.calibration import fit_log_prefactor

OTHER = "<other>"
# Cochran's rule of thumb: the chi-squared approximation wants an expected
# count of about 5 per cell, so rarer reference categories share one cell.
_MIN_EXPECTED = 5.0
# Resamples of the statistic's null per feature when a reference is set.
_RESAMPLES = 2000
_CALIBRATION_VERSION = 1


class CategoricalDrift(ReferenceWindowTest):
    """Chi-squared test of each window's category counts against a reference.

    The first ``reference_size`` rows become the reference (unless
    ``set_reference()`` gives one first). From then on, every tumbling window
    of ``window`` rows is compared feature by feature with the reference, with
    the same false-alarm budget as :class:`~driftline.detectors.NumericDrift`:
    each test gets ``alpha = false_alarm_rate * window / len(features)``, and a
    statistic above the critical value for ``alpha / 100`` is ``"critical"``.

    Each reference category that is frequent enough for the chi-squared
    approximation has a cell of its own. Categories that are rare in the
    reference and categories never seen in it share one cell, ``"<other>"``,
    so a surge of new categories is itself drift. The test is the two-sample
    (homogeneity) form: the reference is a sample too, and treating its
    proportions as exact would inflate the statistic by ``1 + window /
    reference_size`` and page people for nothing.

    The chi-squared distribution is the statistic's limit; with few or
    lopsided cells its real tail can be heavier. So when a reference is set,
    the statistic's null is resampled from the reference's own cell shares
    (``seed``), and the tail ``exp(a) * chi2_sf(x, df)`` is fitted to it at
    moderate quantiles (the decay rate kept from theory, the level ``a``
    measured); the threshold for ``alpha`` comes from that tail, never lower
    than the chi-squared one. The result is :attr:`calibration`, plain data
    to store with the reference and give back to ``set_reference()``.

    Parameters
    ----------
    features
        Names of the columns of every batch, in order.
    reference_size
        Rows collected as the reference during warm-up.
    window
        Rows per tested window.
    false_alarm_rate
        Target false alarms per row when nothing changes.
    seed
        Seeds the resampling that calibrates the thresholds.

    Notes
    -----
    Values are categories compared by equality (strings, as on the wire);
    None and float NaN mean missing and are left out.

    Examples
    --------
    >>> import numpy as np
    >>> from driftline.detectors import CategoricalDrift
    >>> rng = np.random.default_rng(3)
    >>> det = CategoricalDrift(["country"], reference_size=1000, window=500)
    >>> det.update(rng.choice(["NL", "DE", "FR"], p=[0.5, 0.3, 0.2], size=(1000, 1)).astype(object))
    >>> later = rng.choice(["NL", "DE", "FR", "BE"], p=[0.35, 0.3, 0.2, 0.15], size=(1000, 1))
    >>> det.update(later.astype(object))
    >>> for d in det.detections:
    ...     print(d.feature, d.batch_index, d.severity, round(d.value, 1), round(d.threshold, 1))
    country 499 critical 197.8 17.9
    country 999 critical 145.1 17.9
    >>> print(det.detections[0].message)
    country: chi-squared 197.8 > 17.9 (3 df; most changed: '<other>' 0.0% -> 18.0%; unseen 18.0%)

    References
    ----------
    William G. Cochran. "Some methods for strengthening the common chi-squared
    tests." Biometrics 10(4), 1954 (the expected-count rule for cells).
    """

    kind = "data_drift"
    name = "chi2"

    def __init__(
        self,
        features: list[str],
        reference_size: int = 1000,
        window: int = 500,
        false_alarm_rate: float = 1e-6,
        seed: int = 0,
    ) -> None:
        self.features = check_features(features)
        self.reference_size = check_positive_int("reference_size", reference_size)
        self.window = check_positive_int("window", window)
        self.false_alarm_rate = check_rate(false_alarm_rate, len(self.features), self.window)
        self.seed = seed
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        d = len(self.features)
        self._ready = False
        self._warm = [dict() for _ in range(d)]  # category -> count
        self._warm_fill = 0
        self._cell_of = [dict() for _ in range(d)]  # category -> cell; the last cell is OTHER
        self._cells = [[OTHER] for _ in range(d)]  # cell labels, for messages
        self._ref_counts = [np.zeros(1, dtype=np.int64) for _ in range(d)]
        self._counts = [np.zeros(1, dtype=np.int64) for _ in range(d)]
        self._unseen = np.zeros(d, dtype=np.int64)
        self._fill = 0
        self._calibration: dict | None = None
        self._log_prefactor = np.zeros(d)

    @property
    def calibration(self) -> dict | None:
        """The thresholds' calibration on the reference, as plain data (None before a reference)."""
        return None if self._calibration is None else json.loads(json.dumps(self._calibration))

    def set_reference(self, X: np.ndarray, calibration: dict | None = None) -> None:
        """Use the category frequencies of the rows of ``X`` as the reference.

        ``calibration``, from :attr:`calibration` of a detector with the same
        parameters and reference, is used instead of resampling again; one
        that does not fit raises ValueError. A window under way is dropped,
        so every window meets one reference only.
        """
        X = self._check_batch(X)
        if len(X) == 0:
            raise ValueError("the reference needs at least one row")
        self._set_reference([_count(X[:, j]) for j in range(len(self.features))], calibration)

    def _set_reference(self, counts: list[dict], calibration: dict | None = None) -> None:
        for j, ref in enumerate(counts):
            n = sum(ref.values())
            # Own cell when the expected count in the smaller sample is >= 5.
            min_count = _MIN_EXPECTED * n / max(min(n, self.window), 1)
            own = sorted((c for c, k in ref.items() if k >= min_count), key=lambda c: (-ref[c], str(c)))
            cell_of = {c: len(own) for c in ref}
            cell_of.update({c: i for i, c in enumerate(own)})
            ref_counts = np.zeros(len(own) + 1, dtype=np.int64)
            for c, k in ref.items():
                ref_counts[cell_of[c]] += k
            self._cell_of[j] = cell_of
            self._cells[j] = [*own, OTHER]
            self._ref_counts[j] = ref_counts
        digest = _digest(self._cells, self._ref_counts)
        if calibration is None:
            calibration = self._calibrate(digest)
        else:
            self._check_calibration(calibration, digest)
        self._calibration = calibration
        self._log_prefactor = np.array(calibration["log_prefactor"], dtype=np.float64)
        self._ready = True
        self._warm = [dict() for _ in self.features]
        self._warm_fill = 0
        self._restart_window()

    def _params(self) -> dict:
        return {"features": list(self.features), "reference_size": self.reference_size,
                "window": self.window, "false_alarm_rate": self.false_alarm_rate, "seed": self.seed}

    def _calibrate(self, digest: str) -> dict:
        rng = np.random.default_rng(self.seed)
        prefactors = []
        for ref in self._ref_counts:
            n = int(ref.sum())
            used = ref > 0
            df = int(used.sum()) - 1
            if n == 0 or df < 1:
                prefactors.append(0.0)
                continue
            p = ref[used] / n
            null = homogeneity_chi2_many(rng.multinomial(n, p, size=_RESAMPLES),
                                         rng.multinomial(self.window, p, size=_RESAMPLES))
            # A tail lighter than chi-squared is not taken on trust: never below the limit.
            a = fit_log_prefactor(null, lambda t, df=df: math.log(max(chi2_sf(t, df), 1e-300)))
            prefactors.append(max(a, 0.0))
        return {"method": "chi2-homogeneity", "version": _CALIBRATION_VERSION, **self._params(),
                "reference_sha256": digest, "resamples": _RESAMPLES, "log_prefactor": prefactors}

    def _check_calibration(self, calibration: dict, digest: str) -> None:
        check_calibration(calibration, type(self).__name__, "chi2-homogeneity", _CALIBRATION_VERSION,
                          self._params())
        if calibration.get("reference_sha256") != digest:
            raise ValueError("calibration was made for another reference than these rows")

    def threshold(self, j: int, alpha: float, df: int) -> float:
        """The critical value of feature ``j``'s test at level ``alpha`` with ``df`` degrees of freedom."""
        return chi2_isf(alpha * math.exp(-self._log_prefactor[j]), df)

    def _restart_window(self) -> None:
        self._counts = [np.zeros_like(r) for r in self._ref_counts]
        self._unseen[:] = 0
        self._fill = 0

    def update(self, X: np.ndarray) -> None:
        """Feed rows of shape ``(n, len(features))``; None marks a missing value."""
        X = self._check_batch(X)
        self._begin()
        i, n = 0, len(X)
        if not self._ready:
            take = min(self.reference_size - self._warm_fill, n)
            for j, warm in enumerate(self._warm):
                for c, k in _count(X[:take, j]).items():
                    warm[c] = warm.get(c, 0) + k
            self._warm_fill += take
            i = take
            if self._warm_fill == self.reference_size:
                self._set_reference(self._warm)
        while i < n:
            take = min(self.window - self._fill, n - i)
            self._add(X[i:i + take])
            self._fill += take
            i += take
            if self._fill == self.window:
                self._test(batch_index=i - 1)
                self._restart_window()
        self._n_seen += n

    def _add(self, rows: np.ndarray) -> None:
        for j, cell_of in enumerate(self._cell_of):
            other = len(self._cells[j]) - 1
            for c, k in _count(rows[:, j]).items():
                cell = cell_of.get(c)
                if cell is None:
                    self._unseen[j] += k
                    cell = other
                self._counts[j][cell] += k

    def _test(self, batch_index: int) -> None:
        for j, feature in enumerate(self.features):
            ref, win = self._ref_counts[j], self._counts[j]
            n, m = int(ref.sum()), int(win.sum())
            used = (ref + win) > 0
            df = int(used.sum()) - 1
            if n == 0 or m == 0 or df < 1:
                continue
            self._checked.append((self.kind, self.name, feature))
            stat = homogeneity_chi2(ref[used], win[used])
            crit = self.threshold(j, self.alpha, df)
            self._reading(self.name, feature, stat, crit)
            if stat <= crit:
                continue
            p_ref, p_win = ref / n, win / m
            moved = int(np.argmax(np.abs(p_win - p_ref)))
            self._detections.append(Detection(
                kind=self.kind, detector=self.name, feature=feature,
                value=stat, threshold=crit, batch_index=batch_index,
                severity="critical" if stat > self.threshold(j, self.alpha / 100.0, df) else "warning",
                message=(f"{feature}: chi-squared {stat:.1f} > {crit:.1f} ({df} df; most changed: "
                         f"{self._cells[j][moved]!r} {p_ref[moved]:.1%} -> {p_win[moved]:.1%}; "
                         f"unseen {self._unseen[j] / m:.1%})"),
            ))

    def _check_batch(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=object)
        d = len(self.features)
        if X.ndim != 2 or X.shape[1] != d:
            raise ValueError(f"expected an array of shape (n, {d}) for features "
                             f"{self.features}, got shape {X.shape}")
        return X


def homogeneity_chi2(ref: np.ndarray, win: np.ndarray) -> float:
    """Pearson's statistic of the 2 x k table (reference counts, window counts).

    Equal to ``n m sum_k (r_k / n - w_k / m)^2 / (r_k + w_k)``; every cell
    must have ``r_k + w_k > 0``.
    """
    n, m = float(ref.sum()), float(win.sum())
    return float(n * m * np.sum((ref / n - win / m) ** 2 / (ref + win)))


def homogeneity_chi2_many(ref: np.ndarray, win: np.ndarray) -> np.ndarray:
    """:func:`homogeneity_chi2` of each row pair of ``(B, k)`` count arrays; empty cells add nothing."""
    n = ref.sum(axis=1, keepdims=True).astype(np.float64)
    m = win.sum(axis=1, keepdims=True).astype(np.float64)
    total = ref + win
    terms = np.where(total > 0, (ref / n - win / m) ** 2 / np.maximum(total, 1), 0.0)
    return (n * m)[:, 0] * terms.sum(axis=1)


def _digest(cells: list[list], counts: list[np.ndarray]) -> str:
    doc = json.dumps([[[str(c) for c in cs], k.tolist()] for cs, k in zip(cells, counts)])
    return hashlib.sha256(doc.encode()).hexdigest()


def _count(column: np.ndarray) -> dict:
    """Category counts of one column, leaving out None and NaN."""
    try:
        counts = Counter(column.tolist())
    except TypeError as exc:
        raise ValueError(f"categorical values must be hashable, such as strings: {exc}") from None
    counts.pop(None, None)
    return {c: k for c, k in counts.items() if not (isinstance(c, float) and math.isnan(c))}

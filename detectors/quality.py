"""Data quality: the share of missing or wrongly typed values per feature and window."""

from __future__ import annotations

import numpy as np

from driftline.detectors._checks import check_features, check_positive_int
from driftline.detectors.base import Detection, Detector

OK, MISSING, WRONG_TYPE = 0, 1, 2


class DataQuality(Detector):
    """Flags features whose rate of bad values in a tumbling window is over a threshold.

    ``update(codes)`` takes an integer array of shape (n, len(features)) with
    one code per value: ``OK`` (0), ``MISSING`` (1: null or absent) or
    ``WRONG_TYPE`` (2: e.g. a string where the feature is numeric). The
    monitor builds it while it decodes the features, so this detector never
    sees the raw values. A window fires for a feature when its share of bad
    values exceeds ``max_rate``; "critical" when it is over twice that.

    Parameters
    ----------
    features
        Names, in column order.
    window
        Rows per tumbling window.
    max_rate
        Highest acceptable share of missing or wrongly typed values.

    Examples
    --------
    >>> import numpy as np
    >>> det = DataQuality(["amount", "country"], window=100, max_rate=0.05)
    >>> codes = np.zeros((300, 2), dtype=np.int8)
    >>> codes[150:, 0] = np.where(np.arange(150) % 5 == 0, MISSING, OK)
    >>> codes[200:, 0] = np.where(np.arange(100) % 4 == 0, WRONG_TYPE, codes[200:, 0])
    >>> det.update(codes)
    >>> for d in det.detections:
    ...     print(d.feature, d.batch_index, d.severity, d.value)
    amount 199 warning 0.1
    amount 299 critical 0.4
    """

    kind = "data_quality"
    name = "quality"

    def __init__(self, features: list[str], window: int = 500, max_rate: float = 0.05) -> None:
        self.features = check_features(features)
        self.window = check_positive_int("window", window)
        if not 0.0 < max_rate < 1.0:
            raise ValueError(f"max_rate must be between 0 and 1, got {max_rate!r}")
        self.max_rate = float(max_rate)
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        d = len(self.features)
        self._fill = 0
        self._missing = np.zeros(d, dtype=np.int64)
        self._wrong = np.zeros(d, dtype=np.int64)

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
            self._missing += (chunk == MISSING).sum(axis=0)
            self._wrong += (chunk == WRONG_TYPE).sum(axis=0)
            self._fill += take
            start += take
            self._n_seen += take
            if self._fill == self.window:
                self._close_window(start - 1)

    def _close_window(self, batch_index: int) -> None:
        rates = (self._missing + self._wrong) / self.window
        for j, name in enumerate(self.features):
            self._checked.append((self.kind, self.name, name))
            if rates[j] > self.max_rate:
                m, w = self._missing[j] / self.window, self._wrong[j] / self.window
                self._detections.append(Detection(
                    kind=self.kind, detector=self.name, feature=name, value=float(rates[j]),
                    threshold=self.max_rate, batch_index=batch_index,
                    severity="critical" if rates[j] > 2 * self.max_rate else "warning",
                    message=(f"{name}: {rates[j]:.1%} of the last {self.window} values are bad "
                             f"(missing {m:.1%}, wrong type {w:.1%}; limit {self.max_rate:.1%})")))
        self._fill = 0
        self._missing[:] = 0
        self._wrong[:] = 0

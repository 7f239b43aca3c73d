"""Data drift in numeric features: a calibrated two-sided CUSUM per feature."""

from __future__ import annotations

import functools
import numbers

import numpy as np

from driftline.detectors._checks import (
    check_features, check_positive_int, check_rate, numeric_batch,
)
from driftline.detectors.features._cusum_threshold import (
    calibrate_feature, gaussian_threshold, normal_from_t, standardize,
)
from driftline.detectors.base import Detection, Detector

# The statistic is kept in fixed point so that it is the same to the last bit
# whatever the batch sizes: integer sums do not depend on where a batch ends.
_ONE = float(2 ** 32)
_DF_CRITICAL = -3.43  # Dickey-Fuller 1% point, regression with a constant


class MeanShift(Detector):
    """Page's two-sided CUSUM of each numeric feature's one-step residuals.

    Each present value ``x_t`` of a feature is predicted from the feature's
    previous value, ``x_t ~ loc + phi * x_{t-1}``; the residual is
    standardized by the reference's robust scale and clipped at ``clip``,
    giving ``z_t``. Two sums, ``S+ = max(0, S+ + z - k)`` and
    ``S- = max(0, S- - z - k)`` with ``k = shift / 2``, alarm when one passes
    the threshold ``h``; the feature's sums then restart. For an iid feature
    ``phi`` is about 0 and ``z`` is the standardized value itself; for an
    autocorrelated one (a price, a sensor) a slow wander is no change.

    **Reference.** ``set_reference(X)`` (e.g. the training data): ``phi`` is
    the least-squares slope on consecutive values (1 when a Dickey-Fuller test
    cannot reject a random walk at 1%), the residuals' location is Huber's
    M-estimate with the same clip (so the clipped reference residuals have
    mean 0 exactly) and their scale the MAD. Without one, the detector starts by
    itself: from the ``min_reference``-th value on, each value is tested
    against a regression on all the values before it (recursive residuals,
    exactly Student t for normal data, turned into normal scores), while those
    values accumulate; at ``reference_size`` values they become a fixed
    reference as above. A reference given stays after a detection (the stream
    keeps being compared with the training data); a reference learned from the
    stream is learned again from the values after the detection, because the
    stream's new level is its new normal.

    **Threshold.** ``h`` is set for at most ``false_alarm_rate`` false alarms
    per row over all features, i.e. a run length of ``len(features) /
    false_alarm_rate`` values per feature. For a fixed reference it is
    calibrated on the reference itself (see ``_cusum_threshold``): bootstrap
    replicates re-estimate location and scale as the detector does, the exact
    exponential rate of the run length in ``h`` is computed for each, and
    Siegmund's overshoot constant is fitted to simulated run lengths; skewed,
    heavy-tailed and discrete features, and the estimation error of a finite
    reference, are all covered. While the reference is still being learned, the
    threshold is the one for normal residuals, which is exact for normal data.

    Parameters
    ----------
    features
        Names of the columns of every batch, in order.
    shift
        The mean shift, in reference standard deviations, the detector is
        tuned to catch fastest (``k = shift / 2``). Larger shifts are caught
        faster still, smaller ones more slowly.
    clip
        Standardized residuals are clipped to ``[-clip, clip]``, so that a
        single outlier cannot raise an alarm on its own.
    reference_size
        Values per feature in a learned reference, and the most rows kept by
        ``set_reference()``.
    min_reference
        Values a learning feature collects before its first test.
    false_alarm_rate
        Target false alarms per row when nothing changes.
    seed
        Seeds the calibration bootstrap and the thinning of a large reference.

    Notes
    -----
    NaN (or any non-finite value) means missing and is skipped per feature:
    the lag of a value is the feature's previous present value. A detection's
    ``value`` is the CUSUM, ``threshold`` is ``h``; the message gives the
    estimated shift (the mean standardized residual since the sum last stood
    at 0, which is also Page's estimate of when the change began). It is
    ``"critical"`` when that estimate is at least ``shift``.

    With the defaults, 10 streams of 10^6 rows of 10 features (normal,
    lognormal, exponential, t3, Poisson, binomial, geometric) gave 5 false
    alarms self-started and 4 with a 1000-row reference given, against a
    target of 10. A 1 sd shift in one of 10 features was found after 34 rows
    (median; 90th percentile 61). ``shift = 1.5`` is a choice for medium and
    large shifts: a 0.5 sd shift takes about 2000 rows and 0.25 sd is not
    found within 5500, where ``shift=0.5`` finds them after 117 and 759 rows
    (median) at the same false-alarm rate, and 1 sd after 42. The windowed KS
    test of :class:`NumericDrift` covers small shifts and shape changes. On
    river's seven annotated change-point series (TCPD), started by itself,
    the defaults score a mean F1 of 0.509 against 0.483 for "no change"
    (``shift=1.0``: 0.474, ``shift=0.5``: 0.411): short, trending series need
    a large shift to be told from noise. ``python -m
    tests.detectors.measure_meanshift`` and ``python -m
    benchmarks.tcpd_meanshift`` measure it all.

    Examples
    --------
    >>> import numpy as np
    >>> from driftline.detectors import MeanShift
    >>> rng = np.random.default_rng(7)
    >>> det = MeanShift(["amount", "age"])
    >>> det.set_reference(rng.normal(size=(1000, 2)))
    >>> X = rng.normal(size=(2000, 2))
    >>> X[1200:, 1] += 1.0
    >>> det.update(X)
    >>> first = det.detections[0]
    >>> print(first.feature, first.batch_index, round(first.value, 2), round(first.threshold, 2))
    age 1219 10.12 8.98
    >>> print(first.message)
    age: CUSUM 10.12 > 8.98; mean moved by about +1.31 sd over the last 18 values
    >>> len(det.detections), round(det.calibration["features"]["age"]["threshold"], 2)
    (32, 8.98)

    The shift began 19 rows before the first alarm (Page's estimate: 18). A
    reference that was given stays, so the sum restarts and fires again every
    20 rows or so as long as the shift lasts (an :class:`AlertPolicy` makes
    one alert of it).

    References
    ----------
    E. S. Page. "Continuous inspection schemes." Biometrika 41, 1954.
    D. M. Hawkins. "Self-starting CUSUM charts for location and scale."
    The Statistician 36, 1987.
    D. Siegmund. Sequential Analysis. Springer, 1985.
    """

    kind = "data_drift"
    name = "cusum"
    sequential = True

    def __init__(
        self,
        features: list[str],
        shift: float = 1.5,
        clip: float = 3.0,
        reference_size: int = 1000,
        min_reference: int = 10,
        false_alarm_rate: float = 1e-6,
        seed: int = 0,
    ) -> None:
        self.features = check_features(features)
        self.shift = _check_positive("shift", shift)
        self.clip = _check_positive("clip", clip)
        if self.clip <= self.shift / 2.0:
            raise ValueError(f"clip must be larger than shift / 2 = {self.shift / 2:g}, got {clip!r}")
        self.min_reference = check_positive_int("min_reference", min_reference)
        if self.min_reference < 5:
            raise ValueError(f"min_reference must be at least 5, got {min_reference!r}")
        self.reference_size = check_positive_int("reference_size", reference_size)
        if self.reference_size <= self.min_reference:
            raise ValueError(f"reference_size must be larger than min_reference = {self.min_reference}, "
                             f"got {reference_size!r}")
        self.false_alarm_rate = check_rate(false_alarm_rate, len(self.features), 1)
        self.seed = seed
        self._reset()

    # ------------------------------------------------------------ state

    def _reset(self) -> None:
        super()._reset()
        d = len(self.features)
        self._given = False
        self._reference_print: list[float] | None = None  # fingerprint of a given reference
        self._buf = np.full((self.reference_size, d), np.nan)  # learned values, per feature
        self._n = np.zeros(d, dtype=np.int64)  # values in _buf
        self._last = np.full(d, np.nan)  # previous present value
        self._sums = np.zeros((2, d), dtype=np.int64)  # S+ and S-, fixed point
        self._runs = np.zeros((2, d), dtype=np.int64)  # values since each sum was 0
        self._fit = np.full((6, d), np.nan)  # phi, location, scale, threshold, rho, n
        self._epoch = np.zeros(d, dtype=np.int64)  # restarts, for the calibration seed

    @property
    def k(self) -> float:
        return self.shift / 2.0

    @property
    def arl(self) -> float:
        """Target values per feature between false alarms."""
        return len(self.features) / self.false_alarm_rate

    @property
    def ready(self) -> bool:
        """True once every feature has a fixed reference."""
        return bool(np.all(~np.isnan(self._fit[3])))

    @property
    def calibration(self) -> dict:
        """The fitted reference per feature as plain JSON-able data (None while learning).

        Pass it to ``set_reference(X, calibration=...)`` with the same ``X``
        and parameters to skip the bootstrap.
        """
        fields = ("phi", "location", "scale", "threshold", "rho", "n")
        per = {}
        for j, f in enumerate(self.features):
            col = self._fit[:, j]
            per[f] = None if np.isnan(col[3]) else {
                name: (int(v) if name == "n" else float(v)) for name, v in zip(fields, col)}
        return {"detector": type(self).__name__, "params": self._calibration_params(),
                "reference": self._reference_print, "features": per}

    def _calibration_params(self) -> dict:
        return {"features": list(self.features), "shift": self.shift, "clip": self.clip,
                "reference_size": self.reference_size, "false_alarm_rate": self.false_alarm_rate,
                "seed": self.seed}

    # ------------------------------------------------------------ reference

    def set_reference(self, X: np.ndarray, calibration: dict | None = None) -> None:
        """Use the rows of ``X`` (e.g. the training data) as a fixed reference.

        More than ``reference_size`` rows are thinned to a seeded random
        ``reference_size`` of them, in their order. Each feature needs at
        least ``min_reference`` present values. ``calibration``, a
        :attr:`calibration` made from the same ``X`` with the same parameters,
        is used as it is instead of being computed again. The sums restart.
        """
        X = self._check_batch(X)
        if len(X) > self.reference_size:
            rng = np.random.default_rng(self.seed)
            X = X[np.sort(rng.choice(len(X), self.reference_size, replace=False))]
        counts = np.count_nonzero(~np.isnan(X), axis=0)
        if np.any(counts < self.min_reference):
            j = int(np.argmin(counts))
            raise ValueError(f"the reference has {counts[j]} values of {self.features[j]!r}; "
                             f"each feature needs at least min_reference = {self.min_reference}")
        fingerprint = _fingerprint(X)
        if calibration is not None:
            fit = self._check_calibration(calibration, fingerprint)
        else:
            fit = np.stack([self._fit_reference(X[~np.isnan(X[:, j]), j], j)
                            for j in range(len(self.features))], axis=1)
        self._reset()
        self._given, self._reference_print, self._fit = True, fingerprint, fit

    def _check_calibration(self, calibration: dict, fingerprint: list[float]) -> np.ndarray:
        if not isinstance(calibration, dict) or calibration.get("detector") != type(self).__name__:
            raise ValueError("calibration must be a MeanShift.calibration dict")
        if calibration.get("params") != self._calibration_params():
            raise ValueError(f"calibration was made with other parameters: {calibration.get('params')!r}")
        if calibration.get("reference") != fingerprint:
            raise ValueError("calibration was made from another reference")
        per = calibration["features"]
        fields = ("phi", "location", "scale", "threshold", "rho", "n")
        return np.array([[float(per[f][name]) for f in self.features] for name in fields])

    def _fit_reference(self, w: np.ndarray, j: int) -> np.ndarray:
        """phi, location, scale, threshold, rho, n of one feature's reference values ``w``."""
        x, y = w[:-1], w[1:]
        dx = x - x.mean()
        sxx = float(dx @ dx)
        phi = float(dx @ (y - y.mean()) / sxx) if sxx > 1e-12 * max(float(x @ x), 1e-300) else 0.0
        if phi > 0.5:
            # Dickey-Fuller: unless a unit root is rejected at 1%, the feature is
            # taken for a random walk (phi = 1). A phi just below 1 would make the
            # residuals drift as the level wanders away from the reference's.
            e = y - y.mean() - phi * dx
            se = np.sqrt(float(e @ e) / max(len(e) - 2, 1) / sxx)
            if se > 0 and (phi - 1.0) / se > _DF_CRITICAL:
                phi = 1.0
        rng = np.random.default_rng([self.seed, j, int(self._epoch[j])])
        cal = calibrate_feature(y - phi * x, self.k, self.clip, self.arl, rng)
        return np.array([phi, cal["location"], cal["scale"], cal["threshold"], cal["rho"], cal["n"]])

    # ------------------------------------------------------------ update

    def update(self, X: np.ndarray) -> None:
        """Feed rows of shape ``(n, len(features))``; NaN marks a missing value."""
        X = self._check_batch(X)
        self._begin()
        found = []
        quiet = self._update_quiet(X) if len(X) else set()
        for j in range(len(self.features)):
            rows = np.flatnonzero(~np.isnan(X[:, j]))
            if len(rows) and j not in quiet:
                found += self._update_feature(j, X[rows, j], rows)
        found.sort(key=lambda d: d.batch_index)  # stable: features keep their order
        order = {f: i for i, f in enumerate(self.features)}
        self._checked.sort(key=lambda key: order[key[2]])
        self._detections = found
        self._n_seen += len(X)

    @property
    def readings(self) -> list[tuple[str, str | None, float, float]]:
        """Each tracked feature's larger CUSUM (up or down) and its threshold, as of now."""
        return [(self.name, self.features[j], float(self._sums[:, j].max() / _ONE), float(self._fit[3, j]))
                for j in np.flatnonzero(~np.isnan(self._fit[3]))]

    def _update_quiet(self, X: np.ndarray) -> set[int]:
        """Advance every fixed-reference feature that raises no alarm in ``X``, all at once.

        The same arithmetic as ``_update_feature``, vectorized across
        features; a feature with an alarm is left untouched for that path.
        """
        cols = np.flatnonzero(~np.isnan(self._fit[3]))
        if not len(cols):
            return set()
        n = len(X)
        sub = X[:, cols]
        present = ~np.isnan(sub)
        at = np.where(present, np.arange(n)[:, None], -1)
        before = np.vstack([np.full((1, len(cols)), -1), np.maximum.accumulate(at, axis=0)[:-1]])
        lag = np.where(before >= 0, np.take_along_axis(sub, np.maximum(before, 0), axis=0),
                       self._last[cols])
        phi, loc, scale, h = self._fit[:4, cols]
        z = standardize(sub - phi * lag, loc, scale, self.clip)
        tested = present & ~np.isnan(lag)
        z[~tested] = np.nan
        zz = np.where(tested, z, 0.0)
        limit = (h * _ONE).astype(np.int64)
        sums, alarm = [], np.zeros(len(cols), dtype=bool)
        for side, sign in enumerate((1.0, -1.0)):
            y = np.where(tested, np.rint((sign * zz - self.k) * _ONE), 0).astype(np.int64)
            c = self._sums[side, cols] + np.cumsum(y, axis=0)
            sums.append(c - np.minimum(np.minimum.accumulate(c, axis=0), 0))
            alarm |= np.any(sums[-1] > limit, axis=0)
        quiet = set()
        count = np.cumsum(tested, axis=0)
        for i in np.flatnonzero(~alarm & present.any(axis=0)):
            j = int(cols[i])
            for side in (0, 1):
                s = sums[side][:, i]
                self._sums[side, j] = s[-1]
                zero = np.flatnonzero((s == 0) & tested[:, i])
                self._runs[side, j] = (count[-1, i] - count[zero[-1], i] if len(zero)
                                       else self._runs[side, j] + count[-1, i])
            self._last[j] = sub[np.flatnonzero(present[:, i])[-1], i]
            if tested[:, i].any():
                self._checked.append((self.kind, self.name, self.features[j]))
            quiet.add(j)
        return quiet

    def _update_feature(self, j: int, v: np.ndarray, rows: np.ndarray) -> list[Detection]:
        found, tested, i = [], False, 0
        while i < len(v):
            learning = np.isnan(self._fit[3, j])
            if learning:
                take = min(len(v) - i, self.reference_size - int(self._n[j]))
                z = self._learning_z(j, v[i:i + take])
                h = _learning_threshold(self.k, self.clip, self.arl)
            else:
                take = len(v) - i
                phi, loc, scale, h = self._fit[:4, j]
                lag = np.concatenate([[self._last[j]], v[i:i + take - 1]])
                z = standardize(v[i:i + take] - phi * lag, loc, scale, self.clip)
            tested = tested or bool(np.any(~np.isnan(z)))
            fire = self._cusum(j, z, h)
            if fire is None:
                if learning:
                    n = int(self._n[j])
                    self._buf[n:n + take, j] = v[i:i + take]
                    self._n[j] += take
                    if self._n[j] == self.reference_size:
                        self._fit[:, j] = self._fit_reference(self._buf[:, j], j)
                self._last[j] = v[i + take - 1]
                i += take
                continue
            found.append(self._detection(j, fire, z, h, int(rows[i + fire])))
            self._restart(j, last=v[i + fire])
            i += fire + 1
        if tested:
            self._checked.append((self.kind, self.name, self.features[j]))
        return found

    def _learning_z(self, j: int, new: np.ndarray) -> np.ndarray:
        """Normal scores of the recursive residuals of ``new``; NaN before ``min_reference`` values.

        Each value is predicted by the least-squares line through the pairs
        (previous, value) of all the values before it since the reference
        restarted. The sums are taken afresh from the stored values, so that
        they do not depend on how the stream was cut into batches.
        """
        n = int(self._n[j])
        w = np.concatenate([self._buf[:n, j], new])
        z = np.full(len(new), np.nan)
        q = np.arange(n, len(w))  # positions to score
        pairs = q - 1  # pairs (w[i], w[i+1]) with i + 1 < q
        use = pairs >= self.min_reference
        if not use.any():
            return z
        c = w - w[0]
        x, y = c[:-1], c[1:]
        zero = np.zeros(1)
        sx, sy = np.concatenate([zero, np.cumsum(x)]), np.concatenate([zero, np.cumsum(y)])
        sxx = np.concatenate([zero, np.cumsum(x * x)])
        sxy = np.concatenate([zero, np.cumsum(x * y)])
        syy = np.concatenate([zero, np.cumsum(y * y)])
        q, m = q[use], pairs[use].astype(float)
        mx, my = sx[q - 1] / m, sy[q - 1] / m
        cxx = np.maximum(sxx[q - 1] - m * mx * mx, 0.0)
        cxy = sxy[q - 1] - m * mx * my
        cyy = np.maximum(syy[q - 1] - m * my * my, 0.0)
        flat = cxx <= 1e-12 * np.maximum(sxx[q - 1], 1e-300)  # a constant predictor: no slope
        b = np.where(flat, 0.0, cxy / np.where(flat, 1.0, cxx))
        rss = np.maximum(cyy - b * cxy, 0.0)
        dof = np.where(flat, m - 1.0, m - 2.0)
        prev = c[q - 1]
        pred = my + b * (prev - mx)
        vf = 1.0 + 1.0 / m + np.where(flat, 0.0, (prev - mx) ** 2 / np.where(flat, 1.0, cxx))
        s = np.sqrt(rss / dof * vf)
        resid = c[q] - pred
        tiny = 1e-9 * np.maximum(np.sqrt(cyy / m), 1e-300)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(s > tiny, resid / np.where(s > tiny, s, 1.0), np.sign(resid) * np.inf)
            score = np.where(np.isinf(t), np.sign(t) * self.clip, normal_from_t(t, dof))
        score[(s <= tiny) & (np.abs(resid) <= tiny)] = 0.0
        z[use] = np.clip(score, -self.clip, self.clip)
        return z

    def _cusum(self, j: int, z: np.ndarray, h: float) -> int | None:
        """Advance both sums over ``z`` (NaN: no test); the offset of the first alarm, if any.

        Lindley's recursion S_t = max(0, S_{t-1} + y_t) equals C_t - min(0, min C_s)
        for C the running sum from S_0, so it is two cumulative sums and a running
        minimum; on an alarm the sums stop there and the caller restarts them.
        """
        present = ~np.isnan(z)
        zz = np.where(present, z, 0.0)
        limit = int(h * _ONE)
        first, sums = len(z), []
        for sign in (1.0, -1.0):
            y = np.where(present, np.rint((sign * zz - self.k) * _ONE), 0).astype(np.int64)
            c = self._sums[len(sums), j] + np.cumsum(y)
            s = c - np.minimum(np.minimum.accumulate(c), 0)
            over = np.flatnonzero(s > limit)
            if len(over):
                first = min(first, int(over[0]))
            sums.append(s)
        end = min(first, len(z) - 1)
        for side in (0, 1):
            self._sums[side, j] = sums[side][end]
            self._runs[side, j] = _run(sums[side][:end + 1], present[:end + 1], int(self._runs[side, j]))
        return None if first == len(z) else first

    def _detection(self, j: int, at: int, z: np.ndarray, h: float, row: int) -> Detection:
        up = self._sums[0, j] > int(h * _ONE)
        side = 0 if up else 1
        stat = self._sums[side, j] / _ONE
        run = max(int(self._runs[side, j]), 1)
        est = (stat / run + self.k) * (1.0 if up else -1.0)
        feature = self.features[j]
        return Detection(
            kind=self.kind, detector=self.name, feature=feature, value=float(stat), threshold=float(h),
            batch_index=row, severity="critical" if abs(est) >= self.shift else "warning",
            message=(f"{feature}: CUSUM {stat:.2f} > {h:.2f}; mean moved by about {est:+.2f} sd "
                     f"over the last {run} values"),
        )

    def _restart(self, j: int, last: float) -> None:
        self._sums[:, j] = 0
        self._runs[:, j] = 0
        if self._given:
            self._last[j] = last
            return
        # A learned reference is learned again from the values after the change.
        self._epoch[j] += 1
        self._n[j] = 0
        self._buf[:, j] = np.nan
        self._fit[:, j] = np.nan
        self._last[j] = np.nan

    def _check_batch(self, X: np.ndarray) -> np.ndarray:
        return numeric_batch(type(self).__name__, X, self.features)


def _fingerprint(X: np.ndarray) -> list[float]:
    """Plain numbers that tell one reference from another: shape, and per column the
    count, sum and a position-weighted sum of the present values."""
    present = ~np.isnan(X)
    v = np.where(present, X, 0.0)
    w = np.sin(np.arange(1, len(X) + 1))[:, None]
    return [float(len(X)), *np.count_nonzero(present, axis=0).astype(float).tolist(),
            *v.sum(axis=0).tolist(), *(v * w).sum(axis=0).tolist()]


def _run(s: np.ndarray, present: np.ndarray, before: int) -> int:
    """Tested values since the sum last stood at 0, at the end of ``s``."""
    zero = np.flatnonzero((s == 0) & present)
    if len(zero):
        return int(np.count_nonzero(present[zero[-1] + 1:]))
    return before + int(np.count_nonzero(present))


@functools.lru_cache(maxsize=64)
def _learning_threshold(k: float, clip: float, arl: float) -> float:
    return gaussian_threshold(k, clip, arl)


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value < np.inf:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)

"""Prior (label) shift: the share of each predicted class moving, found by river's ADWIN."""

from __future__ import annotations

import numbers

import numpy as np
from river import __version__ as river_version
from river import drift

from driftline.detectors._checks import check_features, check_positive_int
from driftline.detectors.base import Detection, Detector
from driftline.detectors.predictions.error_rate import _adwin_bound, feed_adwin, locate_rise
from driftline.detectors.profile import PREDICTION

# ADWIN looks for a cut after every item: river's default of every 32 items
# adds 16 items to the delay on average, and checking every item raised the
# false alarms by only about 1.5 times at the same delta.
_CLOCK = 1
# False alarms per item of one ADWIN on a stationary Bernoulli(0.5)
# indicator, checked every item, measured on streams of 10^6 to 10^7 items
# (per 10^6 items): 0.07 at delta 0.0007, 0.13 at 0.00086 and at 0.00095 (10^8
# items each), 0.17 at 0.002 (22 in 1.3 x 10^8), 2.2 at 0.01, 14 at 0.05 and 106
# at 0.2. Below 0.002 the rate falls much more slowly than delta. The curve
# 0.27e-6 * (delta / 0.002) ** slope, with slope 0.7 below 0.002 and 1.33
# above, lies above every measurement; delta is read off it. Indicators of
# rarer classes gave fewer (at 0.01: 1.5 per 10^6 for a share of 0.2, 1.1
# for 0.05). ``python -m tests.detectors.measure_prior_residual`` measures it.
_RATE_AT, _DELTA_AT, _SLOPE_BELOW, _SLOPE_ABOVE = 0.27e-6, 0.002, 0.7, 1.33
_MAX_RATE = 1e-4  # the most allowed: delta 0.17 for one class, the top of the measured range
# Items before ADWIN's first check, and fewest items on each side of a cut
# (river's defaults).
_GRACE, _MIN_WINDOW_LENGTH = 10, 5
_RECENT = 2048  # known labels kept to locate a change, as ErrorRateDrift does


class PriorShift(Detector):
    """ADWIN on the indicator of each frequent class of categorical columns, two-sided.

    Meant for a classifier's prediction (``"<prediction>"``): when the share
    of a predicted class moves, the classes the model sees have changed
    (label shift), or the model has. The classes of a column are the ones
    holding at least ``min_share`` of its reference (the first
    ``reference_size`` known labels, or the rows given to
    :meth:`set_reference`), at most ``max_classes`` of them, most frequent
    first; when they are all the reference holds, the least frequent is left
    out (its share is one less the others', so a binary column needs one
    test). Each gets river's ADWIN on its 0/1 indicator, checked after every
    label, with the significance ``delta`` that gives it an equal part of
    its column's equal part of ``false_alarm_rate``.

    When an ADWIN cuts its window, the change is located within the last
    2048 known labels (the split where the shares before and after differ
    most significantly), and reported whichever way the share moved. Labels
    of other classes count against every indicator; a new class taking a
    large share shows as the tracked ones falling.

    Parameters
    ----------
    features
        Names of the columns of every batch, in order.
    reference_size
        Known labels per column in a warm-up reference; no test runs on a
        column before its reference is full.
    min_share
        Least share of the reference that makes a class tracked.
    max_classes
        Most classes tracked per column.
    false_alarm_rate
        Target false alarms per row when nothing changes, over all columns and classes.

    Notes
    -----
    ``value`` is the class's share since the change and ``threshold`` its
    share before. ``"critical"`` means the change also clears ADWIN's bound
    for ``delta / 100``. ``checked`` has one entry per column and update that
    tested a label. ``None`` (or NaN) means missing and is skipped. The
    warm-up's labels are the start of each ADWIN's window, so a change right
    after it is found as fast as later ones.

    At the monitor suite's share (1.5 x 10^-7 false alarms per row), 10^8
    stationary rows gave 13 false alarms with two classes at 0.5, 2 with
    0.2 and 0.8, and 11 with three classes (0.5, 0.3, 0.2); river's ADWIN at
    its defaults (delta 0.002, checked every 32 items) gave 16 on the first
    kind. When one class of two moves from a share of 0.5, the median delay
    over 100 streams was 360 rows to 0.64, 142 to 0.74 and 77 to 0.85, where
    river's ADWIN took 359, 135 and 103: the same speed at the same rate of
    false alarms, faster on large shifts (``python -m
    tests.detectors.measure_prior_residual``). In the suite, the 24 medium and
    large label shifts of ``python benchmarks/detection.py --only label`` were
    all found after a median of 210 rows (river's ADWIN: 230).

    Examples
    --------
    >>> import numpy as np
    >>> from driftline.detectors import PriorShift
    >>> rng = np.random.default_rng(3)
    >>> det = PriorShift()
    >>> labels = np.array(["cat", "dog", "bird"], dtype=object)
    >>> det.update(labels[rng.choice(3, p=[0.5, 0.3, 0.2], size=(3000, 1))])
    >>> det.classes, det.drift_detected
    ({'<prediction>': ['cat', 'dog']}, False)
    >>> det.update(labels[rng.choice(3, p=[0.3, 0.5, 0.2], size=(1000, 1))])
    >>> for d in det.detections:
    ...     print(d.feature, d.batch_index, d.severity, round(d.value, 3), round(d.threshold, 3))
    <prediction> 119 warning 0.239 0.509
    <prediction> 134 warning 0.528 0.296
    >>> print(det.detections[0].message)
    <prediction>: share of 'cat' fell from 0.509 to 0.239 (last 109 rows vs the 3011 before)

    "bird" is not tracked: with "cat" and "dog" it would be all there is.

    References
    ----------
    Albert Bifet and Ricard Gavalda. "Learning from time-changing data with
    adaptive windowing." SIAM International Conference on Data Mining, 2007.
    """

    kind = "data_drift"
    name = "prior"
    sequential = True

    def __init__(self, features: tuple[str, ...] | list[str] = (PREDICTION,),
                 reference_size: int = 1000, min_share: float = 0.01, max_classes: int = 10,
                 false_alarm_rate: float = 1e-6) -> None:
        self.features = check_features(features)
        self.reference_size = check_positive_int("reference_size", reference_size)
        if (isinstance(min_share, bool) or not isinstance(min_share, numbers.Real)
                or not 0.0 < min_share < 0.5):
            raise ValueError(f"min_share must be a number in (0, 0.5), got {min_share!r}")
        self.min_share = float(min_share)
        self.max_classes = check_positive_int("max_classes", max_classes)
        if (isinstance(false_alarm_rate, bool) or not isinstance(false_alarm_rate, numbers.Real)
                or not 0.0 < false_alarm_rate <= _MAX_RATE):
            raise ValueError(f"false_alarm_rate must be in (0, {_MAX_RATE:g}], got {false_alarm_rate!r}")
        self.false_alarm_rate = float(false_alarm_rate)
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        d = len(self.features)
        # Per column: tracked labels (None while warming up), the warm-up's
        # known labels, one ADWIN per tracked class, and the last known labels
        # as class codes (-1: another class).
        self._classes: list[list | None] = [None] * d
        self._warm: list[list] = [[] for _ in range(d)]
        self._adwins: list[list[drift.ADWIN]] = [[] for _ in range(d)]
        # Each ADWIN's width and total, kept here: reading them from river
        # before every item would halve the speed.
        self._windows: list[np.ndarray] = [np.zeros((0, 2)) for _ in range(d)]
        self._recent: list[np.ndarray] = [np.zeros(0, dtype=np.int16) for _ in range(d)]

    @property
    def classes(self) -> dict[str, list | None]:
        """Per column, the tracked classes, most frequent first (None until there is a reference)."""
        return {f: None if c is None else list(c) for f, c in zip(self.features, self._classes)}

    @property
    def delta(self) -> dict[str, float | None]:
        """Per column, each class's ADWIN significance (None until the classes are known)."""
        return {f: self._delta(c) for f, c in zip(self.features, self._classes)}

    def _delta(self, classes: list | None) -> float | None:
        if not classes:
            return None
        return _delta(self.false_alarm_rate / len(self.features), len(classes))

    # ------------------------------------------------------------ reference

    def set_reference(self, X, calibration: None = None) -> None:
        """Take the known labels of ``X`` (e.g. the version's answers on its holdout) as the reference.

        The classes are chosen from them and they start every ADWIN's
        window, so that the stream is compared with them from its first
        row. ``calibration`` exists for the suite's sake and must be None:
        nothing here is calibrated on the reference.
        """
        if calibration is not None:
            raise ValueError("PriorShift has no calibration to reuse; pass calibration=None")
        columns = [_known(col)[1] for col in self._columns(X)]
        for f, known in zip(self.features, columns):
            if not known:
                raise ValueError(f"the reference has no known label of {f!r}")
        self._reset()
        for j, known in enumerate(columns):
            self._start(j, known)

    def _start(self, j: int, known: list) -> None:
        counts: dict = {}
        for v in known:
            counts[v] = counts.get(v, 0) + 1
        ranked = sorted(counts, key=lambda v: (-counts[v], str(v)))
        tracked = [v for v in ranked if counts[v] >= self.min_share * len(known)][:self.max_classes]
        if len(tracked) == len(ranked) and len(tracked) > 1:
            tracked = tracked[:-1]
        self._classes[j] = tracked or ranked[:1]
        self._warm[j] = []
        delta = self._delta(self._classes[j])
        self._adwins[j] = [_adwin(delta) for _ in self._classes[j]]
        codes = self._codes(j, known)
        for c, adwin in enumerate(self._adwins[j]):
            feed_adwin(adwin, (codes == c).astype(np.float64).tolist())  # its own cuts: not reported
        self._windows[j] = np.array([[a.width, a.total] for a in self._adwins[j]], dtype=np.float64)
        self._recent[j] = codes[-_RECENT:]

    # ------------------------------------------------------------ update

    def update(self, X) -> None:
        """Feed rows of shape ``(n, len(features))`` (1-D for one column); None or NaN for missing."""
        columns = self._columns(X)
        self._begin()
        found: list[Detection] = []
        for j, col in enumerate(columns):
            positions, known = _known(col)
            i = 0
            if self._classes[j] is None:
                i = min(self.reference_size - len(self._warm[j]), len(known))
                self._warm[j].extend(known[:i])
                if len(self._warm[j]) == self.reference_size:
                    self._start(j, self._warm[j])
            if i < len(known):
                found += self._test(j, self._codes(j, known[i:]), positions[i:])
                self._checked.append((self.kind, self.name, self.features[j]))
        found.sort(key=lambda d: d.batch_index)  # stable: columns and classes keep their order
        self._detections = found
        self._n_seen += len(columns[0])

    def _test(self, j: int, codes: np.ndarray, positions: np.ndarray) -> list[Detection]:
        found = []
        for c, adwin in enumerate(self._adwins[j]):
            for k, width, total in feed_adwin(adwin, (codes == c).astype(np.float64).tolist()):
                history = np.concatenate([self._recent[j], codes[:k + 1]]) == c
                found += self._on_cut(j, c, int(positions[k]), width, total, history)
            self._windows[j][c] = adwin.width, adwin.total
        self._recent[j] = np.concatenate([self._recent[j], codes])[-_RECENT:]
        return found

    def _on_cut(self, j: int, c: int, pos: int, width: float, total: float,
                history: np.ndarray) -> list[Detection]:
        recent = history[-int(min(_RECENT, width)):].astype(np.int8)
        split = locate_rise(recent, width, total)
        rose = split is not None
        if not rose:
            split = locate_rise(1 - recent, width, width - total)
            if split is None:
                return []
        n_new, new, n_old, old = split
        if not rose:
            new, old = 1.0 - new, 1.0 - old
        mean = total / width
        delta = self._delta(self._classes[j])
        bound = _adwin_bound(n_old, n_new, mean * (1.0 - mean), delta / 100.0, width)
        feature, label = self.features[j], self._classes[j][c]
        return [Detection(
            kind=self.kind, detector=self.name, feature=feature, value=new, threshold=old,
            batch_index=pos, severity="critical" if abs(new - old) > bound else "warning",
            message=(f"{feature}: share of {label!r} {'rose' if rose else 'fell'} from "
                     f"{old:.3f} to {new:.3f} (last {n_new} rows vs the {n_old:.0f} before)"),
        )]

    # ------------------------------------------------------------ helpers

    def _columns(self, X) -> list[np.ndarray]:
        arr = np.asarray(X, dtype=object)
        d = len(self.features)
        if arr.ndim == 1 and d == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != d:
            raise ValueError(f"expected an array of shape (n, {d}) for features {self.features}, "
                             f"got shape {arr.shape}")
        return [arr[:, j] for j in range(d)]

    def _codes(self, j: int, labels: list) -> np.ndarray:
        index = {v: c for c, v in enumerate(self._classes[j])}
        return np.array([index.get(v, -1) for v in labels], dtype=np.int16)

    # river's ADWIN keeps its window in a compiled helper; its own pickle
    # support is a byte string, which is what goes into the state dict.
    def _export_state(self, state: dict) -> dict:
        state["_adwins"] = {"river": river_version,
                            "windows": [[a._helper.__getstate__() for a in col]
                                        for col in state["_adwins"]]}
        return state

    def _import_state(self, state: dict) -> dict:
        saved = state.pop("_adwins")
        adwins = []
        for classes, windows in zip(state.get("_classes") or [], saved["windows"]):
            col = []
            for window in windows:
                adwin = _adwin(self._delta(classes))
                try:
                    adwin._helper.__setstate__(window)
                except BaseException as exc:  # river's compiled helper panics on bytes it cannot read
                    if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                        raise
                    raise ValueError(f"ADWIN state saved with river {saved.get('river')} cannot be "
                                     f"restored with river {river_version}: {exc}") from None
                col.append(adwin)
            adwins.append(col)
        state["_adwins"] = adwins
        return state


def _adwin(delta: float) -> drift.ADWIN:
    return drift.ADWIN(delta=delta, clock=_CLOCK, min_window_length=_MIN_WINDOW_LENGTH,
                       grace_period=_GRACE)


def _known(labels: np.ndarray) -> tuple[np.ndarray, list]:
    """Positions and values of the known labels of one column."""
    values = labels.tolist()
    known = np.array([not (v is None or (isinstance(v, float) and v != v)) for v in values], dtype=bool)
    positions = np.flatnonzero(known)
    return positions, [values[p] for p in positions.tolist()]


def _delta(false_alarm_rate: float, n_classes: int) -> float:
    """ADWIN's delta for one of ``n_classes`` tests sharing ``false_alarm_rate`` (Bonferroni)."""
    x = false_alarm_rate / n_classes / _RATE_AT
    return _DELTA_AT * x ** (1.0 / (_SLOPE_BELOW if x < 1.0 else _SLOPE_ABOVE))

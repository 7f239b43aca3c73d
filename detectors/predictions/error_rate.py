"""Concept drift: a rise of the error rate, found by river's ADWIN."""

from __future__ import annotations

import math

import numpy as np
from river import __version__ as river_version
from river import drift

from driftline.detectors._checks import binary_stream, check_positive_int, check_probability
from driftline.detectors.base import Detection, Detector

# river's ADWIN checks for a cut every `clock` items and never looks at
# sub-windows shorter than `min_window_length`; both are river's defaults.
_CLOCK = 32
_MIN_WINDOW_LENGTH = 5
# How far back a detected change is looked for, in known items. river's ADWIN
# (0.26) drops a single bucket per cut, so its estimates before and after a
# cut still mix old and new items; the change point is located here instead.
_RECENT = 2048
_MIN_SIDE = _CLOCK


class ErrorRateDrift(Detector):
    """ADWIN on the 0/1 stream of prediction errors, reporting increases only.

    When ADWIN cuts its window, the change is located within the last 2048
    known items (the split where the rates before and after differ most
    significantly), and the error rate after it is compared with the rate of
    ADWIN's window before it. Only a rise is reported: a drop in errors, as
    after a better model goes live, is good news.

    Parameters
    ----------
    delta
        ADWIN's significance value. With the defaults, 30 stationary
        Bernoulli(0.2) streams of 10^6 events each gave 2 false alarms in all,
        and a jump from 0.2 to 0.5 was found after 87 events (median; at most
        151 in 100 trials). ``python -m tests.detectors.calibrate`` measures it.
    min_samples
        ADWIN looks for a change only when its window holds more than this
        many items (river's ``grace_period``).

    Notes
    -----
    ``value`` is the error rate since the change and ``threshold`` the rate
    before it, which it was compared with. ``"critical"`` means the rise also clears ADWIN's bound
    for ``delta / 100``. ``checked`` has one entry per ADWIN check (every 32
    known items). NaN means the outcome is not known and is skipped.

    Examples
    --------
    >>> import numpy as np
    >>> from driftline.detectors import ErrorRateDrift
    >>> rng = np.random.default_rng(1)
    >>> det = ErrorRateDrift()
    >>> det.update(rng.random(5000) < 0.2)
    >>> det.drift_detected
    False
    >>> det.update(rng.random(1000) < 0.5)
    >>> for d in det.detections:
    ...     print(d.batch_index, d.severity, round(d.value, 3), round(d.threshold, 3))
    151 warning 0.401 0.202

    References
    ----------
    Albert Bifet and Ricard Gavalda. "Learning from time-changing data with
    adaptive windowing." SIAM International Conference on Data Mining, 2007.
    """

    kind = "concept_drift"
    name = "adwin"
    sequential = True

    def __init__(self, delta: float = 0.002, min_samples: int = 30) -> None:
        self.delta = check_probability("delta", delta)
        self.min_samples = check_positive_int("min_samples", min_samples)
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._adwin = self._new_adwin()
        self._n_known = 0
        self._recent = np.zeros(0, dtype=np.int8)  # last known items, oldest first

    def _new_adwin(self) -> drift.ADWIN:
        return drift.ADWIN(delta=self.delta, clock=_CLOCK, min_window_length=_MIN_WINDOW_LENGTH,
                           grace_period=self.min_samples)

    @property
    def error_rate(self) -> float:
        """ADWIN's estimate of the current error rate (0 before any item)."""
        return self._adwin.estimation

    def update(self, errors) -> None:
        """Feed a 1-D array of 0 (right) and 1 (wrong); NaN for unknown."""
        positions, values = binary_stream("errors", errors)
        self._begin()
        key = (self.kind, self.name, None)
        before = self._n_known
        self._n_known += len(values)
        self._checked += [key] * (self._n_known // _CLOCK - before // _CLOCK)
        for i, width, total in feed_adwin(self._adwin, values.tolist()):
            history = np.concatenate([self._recent, values[:i + 1].astype(np.int8)])
            self._on_cut(int(positions[i]), width, total, history)
        self._recent = np.concatenate([self._recent, values.astype(np.int8)])[-_RECENT:]
        self._n_seen += len(errors)

    def _on_cut(self, pos: int, width: float, total: float, history: np.ndarray) -> None:
        split = locate_rise(history[-int(min(_RECENT, width)):], width, total)
        if split is None:
            return
        n_new, new_rate, n_old, old_rate = split
        mean = total / width
        bound = _adwin_bound(n_old, n_new, mean * (1.0 - mean), self.delta / 100.0, width)
        self._detections.append(Detection(
            kind=self.kind, detector=self.name, feature=None,
            value=new_rate, threshold=old_rate, batch_index=pos,
            severity="critical" if new_rate - old_rate > bound else "warning",
            message=(f"error rate rose from {old_rate:.3f} to {new_rate:.3f} "
                     f"(last {n_new} labelled predictions vs the {n_old:.0f} before)"),
        ))

    # river's ADWIN keeps its window in a compiled helper; its own pickle
    # support is a byte string, which is what goes into the state dict.
    def _export_state(self, state: dict) -> dict:
        helper = state.pop("_adwin")._helper
        state["_adwin"] = {"river": river_version, "window": helper.__getstate__()}
        return state

    def _import_state(self, state: dict) -> dict:
        saved = state.pop("_adwin")
        adwin = self._new_adwin()
        try:
            adwin._helper.__setstate__(saved["window"])
        except Exception as exc:
            raise ValueError(f"ADWIN state saved with river {saved.get('river')} cannot be "
                             f"restored with river {river_version}: {exc}") from None
        state["_adwin"] = adwin
        return state


def feed_adwin(adwin: drift.ADWIN, values: list[float]) -> list[tuple[int, float, float]]:
    """Feed ``values`` to river's ADWIN as its ``update`` would, one by one; return where it cut.

    Each cut is ``(i, width, total)``: the index in ``values`` and the window's
    width and sum just before the cut, item ``i`` included. The loop calls
    river's compiled window directly, as ``ADWIN.update`` does after its
    reset-on-detection, which is kept: the window starts anew on the item after
    a cut.

    >>> from river import drift
    >>> adwin = drift.ADWIN(delta=0.002, clock=32)
    >>> cuts = feed_adwin(adwin, [0.0] * 2000 + [1.0] * 300)
    >>> [(i, w) for i, w, _ in cuts][:1]
    [(2015, 2016.0)]
    """
    helper = adwin._helper
    update = helper.update
    width, total = float(helper.get_width()), float(helper.get_total())
    pending = adwin.drift_detected
    cuts = []
    for i, x in enumerate(values):
        seen_width, seen_total = width + 1.0, total + x
        if pending:
            adwin._reset()
            helper = adwin._helper
            update = helper.update
            width = total = 0.0
            pending = False
        width += 1.0
        total += x
        if update(x):
            cuts.append((i, seen_width, seen_total))
            width, total = float(helper.get_width()), float(helper.get_total())
            pending = True
    adwin._drift_detected = pending
    return cuts


def locate_rise(recent: np.ndarray, width: float, total: float):
    """Split ``(n_new, new_rate, n_old, old_rate)`` of a window, or None if it did not rise.

    ``recent`` holds the newest items of a window of ``width`` items summing to
    ``total``. Among the splits inside ``recent`` the one with the largest
    two-proportion z statistic, in absolute value, is taken as the change.
    """
    tail = np.cumsum(recent[::-1], dtype=np.float64)  # errors among the last k items
    n_new = np.arange(1, len(recent) + 1, dtype=np.float64)
    n_old = width - n_new
    ok = (n_new >= _MIN_SIDE) & (n_old >= _MIN_SIDE)
    if not ok.any():
        return None
    new_rate = tail / n_new
    old_rate = (total - tail) / np.maximum(n_old, 1.0)
    p = total / width
    se = np.sqrt(max(p * (1.0 - p), 1e-12) * (1.0 / n_new + 1.0 / np.maximum(n_old, 1.0)))
    z = (new_rate - old_rate) / se
    k = int(np.argmax(np.where(ok, np.abs(z), -np.inf)))
    if new_rate[k] <= old_rate[k]:
        return None
    return int(n_new[k]), float(new_rate[k]), float(n_old[k]), float(old_rate[k])


def _adwin_bound(n0: float, n1: float, variance: float, delta: float, width: float) -> float:
    """The cut bound of river's ADWIN for sub-windows of n0 and n1 items."""
    delta_prime = math.log(2.0 * math.log(width) / delta)
    m_recip = 1.0 / max(n0 - _MIN_WINDOW_LENGTH + 1, 1) + 1.0 / max(n1 - _MIN_WINDOW_LENGTH + 1, 1)
    return math.sqrt(2.0 * m_recip * variance * delta_prime) + 2.0 / 3.0 * delta_prime * m_recip

"""Concept drift of a regressor: its errors growing, found by a calibrated CUSUM on the residuals."""

from __future__ import annotations

import dataclasses

import numpy as np

from driftline.detectors._checks import residual_batch
from driftline.detectors.base import Detection, Detector
from driftline.detectors.features.cusum import MeanShift

# The two series the CUSUM watches, and what a detection on each says.
_BIAS, _SIZE = "bias", "size"
_WHAT = {_BIAS: "mean residual (bias)", _SIZE: "mean absolute residual"}


class ResidualShift(Detector):
    """Page's CUSUM on a regressor's residuals and on their size, reporting growing errors only.

    ``update()`` takes the residuals ``r = prediction - label`` (NaN where the
    label is not known, skipped). Two series are watched by a
    :class:`MeanShift` sharing ``false_alarm_rate``: ``r`` itself (a
    bias, as when the target moves while the inputs do not) and ``|r|`` (the
    size of the errors, as when the function changes and the errors spread
    both ways). A shift of the bias is reported when it takes the bias away
    from zero, one of the size when the size rises; a shift that makes the
    errors smaller (a model that is doing better, or a bias that goes away)
    is not, and the CUSUM starts afresh from it.

    The reference is learned from the stream itself, as :class:`MeanShift`
    does, from the first ``reference_size`` known residuals, and learned
    again after each shift: the new level is then the normal one. The
    thresholds are calibrated on that reference for the skewed, possibly
    heavy-tailed distribution of ``|r|``.

    Parameters
    ----------
    shift
        The shift, in reference standard deviations of ``r`` or of ``|r|``,
        the CUSUM is tuned to catch fastest. ``0.5`` because errors that grow
        a little matter: a target moving by 0.75 sd of ``r`` moves the mean of
        ``|r|`` by only about 0.4 of its sd.
    clip, reference_size, min_reference, seed
        As for :class:`MeanShift`.
    false_alarm_rate
        Target false alarms per labelled item when nothing changes. A shift
        of the size towards smaller errors is never reported, so the rate
        actually reached is lower.

    Notes
    -----
    ``value`` is the CUSUM and ``threshold`` the level it crossed; the
    message says which series moved, by about how many reference standard
    deviations, since when. ``"critical"`` means the estimated shift is at
    least ``shift``. ``checked`` has one entry per update with a known residual
    past the first ``min_reference``.

    At the monitor suite's share (1.5 x 10^-7 false alarms per labelled
    event), 10^8 stationary residuals each gave 6 false alarms (normal), 4
    (Laplace) and 3 (Student t, 5 df), of 15 allowed. On normal residuals a
    bias of 0.5 sd was found after 118 residuals (median of 100 streams), 1 sd after 44,
    a spread growing 1.5 times after 95 and 2 times after 43, where river's
    ADWIN at its defaults on ``|r|`` took 1063, 103, 103 and 39 (``python -m
    tests.detectors.measure_prior_residual``). In the suite, on Friedman data
    through a frozen linear model (``python benchmarks/detection.py --only
    regression``), the target moving by +2 was found after a median of 58
    residuals and swapped features after 73.

    Examples
    --------
    >>> import numpy as np
    >>> from driftline.detectors import ResidualShift
    >>> rng = np.random.default_rng(4)
    >>> det = ResidualShift()
    >>> det.update(rng.normal(size=3000))
    >>> det.drift_detected
    False
    >>> det.update(rng.normal(size=1000) - 1.0)
    >>> for d in det.detections:
    ...     print(d.batch_index, d.severity, round(d.value, 2), round(d.threshold, 2))
    31 critical 29.61 28.1
    103 critical 32.13 31.59
    >>> for d in det.detections:
    ...     print(d.message)
    mean residual (bias) moved by about -1.15 sd over the last 33 values (CUSUM 29.61 > 28.10)
    mean absolute residual moved by about +0.56 sd over the last 104 values (CUSUM 32.13 > 31.59)

    The bias, then the size of the errors (``|N(-1, 1)|`` is larger than
    ``|N(0, 1)|``). Errors that shrink raise nothing:

    >>> det.update(0.5 * rng.normal(size=3000) - 1.0)
    >>> det.drift_detected
    False
    """

    kind = "concept_drift"
    name = "residual"
    sequential = True

    def __init__(self, shift: float = 0.5, clip: float = 3.0, reference_size: int = 1000,
                 min_reference: int = 10, false_alarm_rate: float = 1e-6, seed: int = 0) -> None:
        self.shift = shift
        self.clip = clip
        self.reference_size = reference_size
        self.min_reference = min_reference
        self.false_alarm_rate = false_alarm_rate
        self.seed = seed
        self._reset()  # the inner MeanShift checks every parameter, with its own messages

    def _reset(self) -> None:
        super()._reset()
        self._cusum = _SignedCusum([_BIAS, _SIZE], shift=self.shift, clip=self.clip,
                                   reference_size=self.reference_size,
                                   min_reference=self.min_reference,
                                   false_alarm_rate=self.false_alarm_rate, seed=self.seed)

    def update(self, residuals) -> None:
        """Feed a 1-D array of residuals (prediction - label); NaN where the label is unknown."""
        r = residual_batch(residuals)
        self._begin()
        self._cusum.update(np.column_stack([r, np.abs(r)]))
        for d in self._cusum.detections:
            if d.value <= 0.0:  # the errors got smaller
                continue
            self._detections.append(Detection(
                kind=self.kind, detector=self.name, feature=None, value=d.value,
                threshold=d.threshold, batch_index=d.batch_index, severity=d.severity,
                message=f"{_WHAT[d.feature]} {d.message}"))
        if self._cusum.checked:
            self._checked.append((self.kind, self.name, None))
        self._n_seen += len(r)

    # The inner CUSUM's own state dict is plain data.
    def _export_state(self, state: dict) -> dict:
        state["_cusum"] = state["_cusum"].state_dict()
        return state

    def _import_state(self, state: dict) -> dict:
        cusum = self._cusum.clone()
        cusum.load_state_dict(state["_cusum"])
        state["_cusum"] = cusum
        return state


class _SignedCusum(MeanShift):
    """MeanShift whose detections say whether the shift made the errors larger.

    ``value`` is the CUSUM when it did and minus the CUSUM when it did not, and
    the message is rewritten to describe the residuals.
    """

    def _detection(self, j: int, at: int, z: np.ndarray, h: float, row: int) -> Detection:
        found = super()._detection(j, at, z, h, row)
        side = 0 if self._sums[0, j] >= self._sums[1, j] else 1  # the sum that crossed h
        run = max(int(self._runs[side, j]), 1)
        est = (found.value / run + self.k) * (1.0 if side == 0 else -1.0)
        worse = est > 0.0 if self.features[j] == _SIZE else self._away_from_zero(j, est)
        return dataclasses.replace(
            found, value=found.value if worse else -found.value,
            message=(f"moved by about {est:+.2f} sd over the last {run} values "
                     f"(CUSUM {found.value:.2f} > {h:.2f})"))

    def _away_from_zero(self, j: int, est: float) -> bool:
        """Whether a shift of ``est`` reference sd takes the mean residual further from 0."""
        phi, loc, scale = self._fit[:3, j]
        if np.isnan(scale):  # still learning: the values so far are the reference
            w = self._buf[:int(self._n[j]), j]
            phi, loc, scale = 0.0, float(w.mean()), float(w.std())
        if phi >= 1.0:  # a wandering level has no bias to compare with
            return True
        level = loc / (1.0 - phi)
        return abs(level + est * scale / (1.0 - phi)) > abs(level)

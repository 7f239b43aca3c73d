"""Concept drift seen in one predicted class first: ADWIN on each class's error stream."""

from __future__ import annotations

import numpy as np

from driftline.detectors._checks import binary_stream, check_positive_int, check_probability
from driftline.detectors.base import Detection, Detector
from driftline.detectors.predictions.error_rate import _CLOCK, ErrorRateDrift

# The classes beyond this many share one stream, so that a model with thousands
# of classes does not keep thousands of windows.
_OTHER = "<other>"


class ClassErrorDrift(Detector):
    """ADWIN on the error stream of each predicted class, reporting increases only.

    A decision boundary that moves turns the labels of the examples it sweeps
    over, and the model keeps answering them with the class on the old side:
    the new errors all fall among the predictions of one class. There they
    are a larger part of a smaller stream, and in the items each needs, a
    rise of ``d`` among a share ``f`` of the predictions is found about
    ``1 / f`` times sooner than the rise of ``f * d`` it makes in the
    whole stream. On river's SEA (10% label noise), where a drift turns 4%
    to 20% of the labels, a model trained on 1,000 labels had its first
    drift found after a median of 550 labels this way and 2,000 on the whole
    error stream, its third after 1,700 and 4,800 (``benchmarks/class_errors.py``).

    Each class's stream runs one :class:`ErrorRateDrift` at ``delta``. The
    classes split the items between them and ADWIN's false alarms grow with
    the number of items it sees, so all of them together page about as
    often as one ADWIN at ``delta`` on the whole stream (measured on
    stationary streams in ``benchmarks/class_errors.py``).

    Parameters
    ----------
    delta
        ADWIN's significance value, for each class's stream.
    min_samples
        Items a class's stream needs before ADWIN looks for a change in it.
    max_classes
        Classes watched on their own, in the order they first appear; the
        predictions of any later class share one stream, ``"<other>"``.

    Notes
    -----
    Each batch is an ``(n, 2)`` array: the error of each labeled prediction
    (1 wrong, 0 right, NaN unknown) and the class it predicted. ``value`` is
    the class's error rate since the change and ``threshold`` its rate before;
    ``checked`` has one entry per 32 known items, over all classes.

    Examples
    --------
    >>> import numpy as np
    >>> from driftline.detectors import ClassErrorDrift
    >>> from driftline.detectors.predictions.class_error import error_pairs
    >>> rng = np.random.default_rng(1)
    >>> det = ClassErrorDrift()
    >>> def batch(n, rate_a, rate_b):
    ...     cls = rng.choice(["a", "b"], size=n)
    ...     err = rng.random(n) < np.where(cls == "a", rate_a, rate_b)
    ...     return error_pairs(err.astype(float), cls)
    >>> det.update(batch(6000, 0.1, 0.1))
    >>> det.drift_detected
    False
    >>> det.update(batch(2000, 0.1, 0.3))
    >>> [(d.feature, d.message[:38]) for d in det.detections]
    [(None, 'among predictions of b: error rate ros')]
    """

    kind = "concept_drift"
    name = "adwin_class"
    sequential = True

    def __init__(self, delta: float = 0.002, min_samples: int = 30, max_classes: int = 20) -> None:
        self.delta = check_probability("delta", delta)
        self.min_samples = check_positive_int("min_samples", min_samples)
        self.max_classes = check_positive_int("max_classes", max_classes)
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._by_class: dict[str, ErrorRateDrift] = {}
        self._n_known = 0

    def update(self, batch) -> None:
        """Feed an ``(n, 2)`` array of (error, predicted class) pairs."""
        errors, classes = _pairs(batch)
        self._begin()
        known = ~np.isnan(errors)
        names = np.array([self._stream_of(c) if k else "" for c, k in zip(classes, known)],
                         dtype=object)
        for cls in dict.fromkeys(names[known].tolist()):
            det = self._by_class[cls]
            det.update(np.where(names == cls, errors, np.nan))
            self._detections += [Detection(
                kind=self.kind, detector=self.name, feature=None, value=d.value,
                threshold=d.threshold, batch_index=d.batch_index, severity=d.severity,
                message=f"among predictions of {cls}: {d.message}") for d in det.detections]
        self._detections.sort(key=lambda d: d.batch_index)
        n_known = int(known.sum())
        key = (self.kind, self.name, None)
        self._checked += [key] * ((self._n_known + n_known) // _CLOCK - self._n_known // _CLOCK)
        self._n_known += n_known
        self._n_seen += len(errors)

    def _stream_of(self, value) -> str:
        name = str(value)
        if name not in self._by_class:
            if len(self._by_class) >= self.max_classes:
                name = _OTHER
            if name not in self._by_class:
                self._by_class[name] = ErrorRateDrift(delta=self.delta, min_samples=self.min_samples)
        return name

    def _export_state(self, state: dict) -> dict:
        state["_by_class"] = {k: d.state_dict() for k, d in state["_by_class"].items()}
        return state

    def _import_state(self, state: dict) -> dict:
        streams = {}
        for k, saved in state["_by_class"].items():
            streams[k] = ErrorRateDrift(delta=self.delta, min_samples=self.min_samples)
            streams[k].load_state_dict(saved)
        state["_by_class"] = streams
        return state


def error_pairs(errors, predicted) -> np.ndarray:
    """The ``(n, 2)`` batch of :class:`ClassErrorDrift`: each error next to the class predicted.

    ``predicted`` may be one value for all.

    >>> error_pairs([1.0, 0.0], ["a", "b"]).tolist()
    [[1.0, 'a'], [0.0, 'b']]
    """
    out = np.empty((len(errors), 2), dtype=object)
    out[:, 0], out[:, 1] = errors, predicted
    return out


def _pairs(batch) -> tuple[np.ndarray, np.ndarray]:
    """The errors (floats, NaN unknown) and predicted classes of an ``(n, 2)`` batch."""
    arr = np.asarray(batch, dtype=object)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"ClassErrorDrift takes an (n, 2) array of (error, predicted class) "
                         f"pairs, got shape {arr.shape}")
    try:
        errors = np.array([np.nan if v is None else float(v) for v in arr[:, 0]], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("the first column holds errors: 0, 1 or NaN for unknown") from None
    binary_stream("errors", errors)  # 0, 1 or NaN, or a clear error
    return errors, arr[:, 1]

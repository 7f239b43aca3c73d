"""The contract every detector follows, and the record of one detection.

A detector is fed batches with ``update(batch)``, which returns nothing; what
the batch revealed is then read from ``drift_detected`` and ``detections``.
Constructor arguments are kept under their own names and all state lives in
underscore attributes set by ``_reset()``; that single rule is what makes
``clone()``, ``reset()``, pickling and ``state_dict()`` work the same way for
every detector.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import inspect
from typing import Any, ClassVar

from driftline.contract import ALERT_KINDS, SEVERITIES

# What an alert is about: (kind, detector name, feature or None).
Key = tuple[str, str, "str | None"]
# Attributes a detector keeps for display only: not part of its state, empty after a restart.
TRANSIENT = frozenset({"_readings"})


@dataclasses.dataclass(frozen=True)
class Detection:
    """One finding of one detector, ready to become an alert.

    Parameters
    ----------
    kind
        ``"data_drift"``, ``"concept_drift"``, ``"performance"`` or ``"data_quality"``.
    detector
        The short name of the detector (``"ks"``, ``"chi2"``, ``"adwin"``, ...).
    feature
        The feature concerned, or None when the finding is about the model.
    value
        The statistic.
    threshold
        What the statistic was compared with.
    batch_index
        Position, within the batch passed to the last ``update()``, of the
        newest item the detection rests on.
    severity
        ``"warning"`` or ``"critical"``.
    message
        One human-readable line.

    Examples
    --------
    >>> from driftline.detectors import Detection
    >>> d = Detection("data_drift", "ks", "amount", 0.31, 0.2, 499, "critical", "amount moved")
    >>> d.key
    ('data_drift', 'ks', 'amount')
    >>> Detection("data_drift", "ks", None, 0.3, 0.2, 0, "page", "")
    Traceback (most recent call last):
    ...
    ValueError: severity must be one of ('warning', 'critical'), got 'page'
    """

    kind: str
    detector: str
    feature: str | None
    value: float
    threshold: float
    batch_index: int
    severity: str
    message: str

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise ValueError(f"kind must be one of {ALERT_KINDS}, got {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    @property
    def key(self) -> Key:
        return (self.kind, self.detector, self.feature)


class Detector(abc.ABC):
    """Base class of the online detectors.

    Subclasses set ``kind`` and ``name``, store each constructor argument under
    its own name, call ``self._reset()`` at the end of ``__init__``, keep all
    state in underscore attributes created by ``_reset()``, and implement
    ``update()``. Everything else comes from here.
    """

    kind: ClassVar[str]
    name: ClassVar[str]
    # Every value the class puts in ``Detection.detector`` and in checked keys:
    # ``(name,)`` unless a class that runs several tests lists them all.
    names: ClassVar[tuple[str, ...]]
    # True for a change detector, which starts over after each detection: its silence
    # after one says the stream has stopped changing, not that it is back to the reference.
    sequential: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in vars(cls) and "names" not in vars(cls):
            cls.names = (cls.name,)

    @abc.abstractmethod
    def update(self, batch: Any) -> None:
        """Feed one batch; read the outcome from ``drift_detected`` and ``detections``."""

    def _reset(self) -> None:
        self._n_seen = 0
        self._detections: list[Detection] = []
        self._checked: list[Key] = []
        self._readings: dict[tuple[str, str | None], tuple[float, float]] = {}

    # ------------------------------------------------------------ outcome

    @property
    def drift_detected(self) -> bool:
        """True iff the last ``update()`` produced at least one detection."""
        return bool(self._detections)

    @property
    def detections(self) -> list[Detection]:
        """What the last ``update()`` found, oldest first."""
        return list(self._detections)

    @property
    def checked(self) -> list[Key]:
        """One key per test the last ``update()`` ran, with or without a finding.

        :class:`~driftline.detectors.AlertPolicy` needs it to tell a drift
        that has gone away from one that was merely not looked at.
        """
        return list(self._checked)

    @property
    def n_seen(self) -> int:
        """Items seen since construction or the last ``reset()``."""
        return self._n_seen

    @property
    def readings(self) -> list[tuple[str, str | None, float, float]]:
        """``(detector, feature, statistic, threshold)`` of the latest test of each kind run.

        For dashboards: a statistic past its threshold is what a detection
        reports. They are not state: a restored detector has none until it
        tests again.
        """
        return [(name, feature, value, threshold)
                for (name, feature), (value, threshold) in self._readings.items()]

    def _reading(self, name: str, feature: str | None, value: float, threshold: float) -> None:
        self._readings[(name, feature)] = (float(value), float(threshold))

    def _begin(self) -> None:
        """Forget the previous update's outcome; every ``update()`` starts with it."""
        self._detections = []
        self._checked = []

    # ------------------------------------------------------------ lifecycle

    def reset(self) -> None:
        """Return to the state right after construction, keeping the parameters."""
        self._reset()

    def clone(self) -> Detector:
        """A fresh detector with the same parameters."""
        return type(self)(**copy.deepcopy(self._get_params()))

    def _get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {
            name: getattr(self, name)
            for name, p in sig.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue, as picklable plain data (a snapshot, not a view)."""
        state = {k: copy.deepcopy(v) for k, v in vars(self).items()
                 if k.startswith("_") and k not in TRANSIENT}
        state["_detections"] = [dataclasses.asdict(d) for d in self._detections]
        return {
            "detector": type(self).__name__,
            "params": copy.deepcopy(self._get_params()),
            "state": self._export_state(state),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a ``state_dict()`` saved by a detector with the same parameters."""
        if not isinstance(state, dict) or not {"detector", "params", "state"} <= state.keys():
            raise ValueError("not a detector state: expected keys 'detector', 'params', 'state'")
        if state["detector"] != type(self).__name__:
            raise ValueError(f"state of a {state['detector']} cannot be loaded into a {type(self).__name__}")
        params = self._get_params()
        if state["params"] != params:
            diff = sorted(k for k in params if state["params"].get(k) != params[k])
            raise ValueError(f"state was saved with other parameters ({', '.join(diff)}); "
                             f"build the detector with {state['params']!r}")
        inner = self._import_state(copy.deepcopy(state["state"]))
        expected = {k for k in vars(self) if k.startswith("_") and k not in TRANSIENT}
        if set(inner) != expected:
            missing, extra = sorted(expected - set(inner)), sorted(set(inner) - expected)
            raise ValueError(f"state does not fit {type(self).__name__}: "
                             f"missing {missing}, unexpected {extra}")
        inner["_detections"] = [Detection(**d) for d in inner["_detections"]]
        inner["_checked"] = [tuple(k) for k in inner["_checked"]]
        vars(self).update(inner)

    def _export_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """Turn state that is not plain data into plain data (see ``_import_state``)."""
        return state

    def _import_state(self, state: dict[str, Any]) -> dict[str, Any]:
        return state


class ReferenceWindowTest(Detector):
    """A detector that tests tumbling windows of ``window`` rows against a reference.

    ``false_alarm_rate`` is per event over all ``features``: each window runs one
    test per feature, so each single test gets the share computed in :attr:`alpha`.
    """

    features: list[str]
    window: int
    false_alarm_rate: float
    _ready: bool

    @property
    def alpha(self) -> float:
        """The significance level of each single test."""
        return self.false_alarm_rate * self.window / len(self.features)

    @property
    def ready(self) -> bool:
        """True once there is a reference to test against."""
        return self._ready

"""Watching a promotion: the monitor's side of an automatic rollback.

When a version newer than any the model has served starts serving after
another one, :class:`PromotionWatch` tests its first labeled events against
the score its gate measured (:class:`~driftline.detectors.rollback.RollbackCheck`).
If it falls short, the monitor publishes what it decided: a critical
``performance`` alert that says so, and a retrain request with action
``rollback`` naming the version to demote. The monitor writes no registry:
the retrainer performs the rollback (only if that version is still the
champion) and publishes the restored champion, which services swap back to.

Not watched: the first version a monitor sees (it knows no predecessor to
go back to, e.g. after its state was lost), the first version after the
fallback ``"0"``, and any version not newer than the newest one served, so
a restored or hand-pinned older version is never rolled back itself. A
version whose profile has no usable score (see
:meth:`RollbackCheck.usable`) is not watched either.

Pure logic, no clock: the caller passes event times and ``now_ms``.

Examples
--------
>>> import numpy as np
>>> watch = PromotionWatch(events=200, confidence=0.999)
>>> score = {"metric": "accuracy", "value": 0.93, "n": 400}
>>> watch.on_version("4", None, first_ts=0, score=score)  # the first version seen: no predecessor
>>> watch.version is None
True
>>> watch.on_version("5", "4", first_ts=1000, score=score)
>>> watch.version
'5'
>>> outcomes = np.array([1, 0, 0, 1] * 50)
>>> decided = watch.observe("fraud", outcomes, np.arange(200) + 2000, now_ms=9000)
>>> decided.alert.kind, decided.alert.severity, decided.alert.detector, decided.alert.event_ts
('performance', 'critical', 'rollback', 2199)
>>> print(decided.alert.message)
v5 scored 0.500 accuracy on its first 200 labeled events, the gate measured 0.930 on 400 (bound 0.846 at 99.9% confidence): rolling back to v4
>>> r = decided.request
>>> r.action, r.model_version, r.since_ts, r.alert_ids == [decided.alert.alert_id]
('rollback', '5', 1000, True)
>>> watch.on_version("4", "5", first_ts=3000, score=score)  # restored: not watched
>>> watch.version is None
True
"""

from __future__ import annotations

import dataclasses

import numpy as np

from driftline.contract import Alert, RetrainRequest, new_id
from driftline.detectors.rollback import RollbackCheck, RollbackVerdict

NO_MODEL = "0"  # the version a service reports while it has no champion yet


@dataclasses.dataclass(frozen=True)
class Rollback:
    """What the monitor publishes when a promoted version falls short of its gate score."""

    verdict: RollbackVerdict
    alert: Alert
    request: RetrainRequest


class PromotionWatch:
    """The promotion of one model under test, if any.

    Parameters
    ----------
    events
        Labeled events of a promoted version the test waits for; 0 turns
        automatic rollback off.
    confidence
        The test's confidence (see :class:`RollbackCheck`).
    """

    def __init__(self, events: int = 1000, confidence: float = 0.999) -> None:
        self.events = events
        self.confidence = confidence
        self.newest: int | None = None  # the highest version number this model has served
        self._check: RollbackCheck | None = None
        self._previous: str | None = None  # what served before the watched version
        self._since_ts = 0  # the watched version's first prediction

    @property
    def version(self) -> str | None:
        """The version under test, or None."""
        return None if self._check is None else self._check.version

    def on_version(self, version: str, previous: str | None, first_ts: int,
                   score: dict | None, regression: bool = False) -> None:
        """A version starts serving (its first prediction, at event time ``first_ts``).

        ``score`` is the version's registered score (its profile's
        ``performance``); ``regression`` says how the monitor reads the
        model's outcomes, residuals or right/wrong, and a score of the other
        kind is not used.
        """
        number = _number(version)
        if number is None:
            return
        promoted = (self.newest is not None and number > self.newest
                    and previous is not None and _number(previous) is not None)
        self.newest = number if self.newest is None else max(self.newest, number)
        if not promoted or self.events < 1:
            return
        metric = "mae" if regression else "accuracy"
        if not RollbackCheck.usable(score) or score.get("metric") != metric:
            self._check = None  # a newer version supersedes any older one under test
            return
        self._check = RollbackCheck(version, score, events=self.events, confidence=self.confidence)
        self._previous = previous
        self._since_ts = first_ts

    def state_dict(self) -> dict:
        return {"events": self.events, "confidence": self.confidence, "newest": self.newest,
                "check": None if self._check is None else self._check.state_dict(),
                "previous": self._previous, "since_ts": self._since_ts}

    @classmethod
    def from_state(cls, state: dict) -> PromotionWatch:
        watch = cls(int(state["events"]), float(state["confidence"]))
        watch.newest = None if state["newest"] is None else int(state["newest"])
        watch._check = None if state["check"] is None else RollbackCheck.from_state(state["check"])
        watch._previous = state["previous"]
        watch._since_ts = int(state["since_ts"])
        return watch

    def observe(self, model_id: str, outcomes: np.ndarray, ts: np.ndarray,
                now_ms: int) -> Rollback | None:
        """Outcomes of labeled events of the version under test, with their event times.

        Returns the :class:`Rollback` to publish if these events completed a
        test that failed; the watch ends with any verdict.
        """
        if self._check is None:
            return None
        verdict = self._check.update(outcomes)
        if verdict is None:
            return None
        self._check = None
        if not verdict.rollback:
            return None
        alert = Alert(alert_id=new_id(), model_id=model_id, model_version=verdict.version,
                      kind="performance", severity="critical", detector="rollback", feature=None,
                      value=float(verdict.live), threshold=float(verdict.bound),
                      event_ts=int(ts[verdict.batch_index]), ts=now_ms,
                      message=f"{verdict.message}: rolling back to v{self._previous}")
        request = RetrainRequest(request_id=new_id(), model_id=model_id, alert_ids=[alert.alert_id],
                                 since_ts=self._since_ts, ts=now_ms, reason=alert.message,
                                 action="rollback", model_version=verdict.version)
        return Rollback(verdict, alert, request)


def _number(version: str | None) -> int | None:
    """A registry version's number; None for the fallback "0" and anything not a number."""
    if version is None or not version.isdigit() or version == NO_MODEL:
        return None
    return int(version)

"""When one model's monitor asks for a retrain, and what it asks.

:class:`RetrainScheduler` is a small state machine over the episodes that ask
for retraining (the alert policy decides which do) and the answers the
retrainer publishes on ``model-versions``:

- **idle**: nothing to ask. A model served by the fallback version ``"0"``
  asks for its first version once ``min_train_examples`` labels are in.
- **settling**: an episode found on the labels asks; the request waits until
  the serving version's losses stop rising (:class:`~driftline.consumers.settle.Settling`),
  so the window starts on the new concept. Episodes on the inputs ask at once.
- **asked**: a request is in flight; nothing else is asked until the
  cooldown (``retrain_cooldown_ms`` of event time) has passed, or a new
  version starts serving (the answer).
- **turned down**: the retrainer rejected the request (:meth:`answered`). Its
  drift is asked about again without the cooldown once the errors rose again
  since the request (from where they settle anew), or once the labels since
  the rejected window began are ``ask_again_growth`` times those it held and
  the version still does worse, or the challenger had scored better short of
  the gate's confidence. While the episode stays open, or the version still
  does worse than before the drift, the request is repeated after the
  cooldown, doubled for each repeat.

Pure logic: event times and ``now_ms`` in, :class:`RetrainRequest` out.

>>> s = RetrainScheduler("fraud", SchedulerConfig(min_train_examples=100))
>>> s.on_version("0")
>>> s.poll(now_ms=1, watermark=10, labeled=99, open_keys=[]) is None
True
>>> s.poll(now_ms=2, watermark=20, labeled=100, open_keys=[]).reason
'no champion yet: first version'
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from driftline.consumers.settle import Settling
from driftline.contract import ModelVersion, RetrainRequest, new_id

NO_MODEL = "0"  # the version a service reports while it has no champion yet
# Episodes found on the labeled outcomes: their drift can be watched settling.
ON_LABELS = ("concept_drift", "performance")

Episode = tuple[str, "str | None"]
AlertRef = tuple[str, int, str]  # (alert_id, event_ts, message)


@dataclasses.dataclass(frozen=True)
class SchedulerConfig:
    retrain_cooldown_ms: int = 600_000
    min_train_examples: int = 1000
    # A drift found on the labels is asked about once the serving version's losses have
    # stopped rising over the newest settle_window labels (consumers/settle.py), so the
    # window starts on the new concept; None: min_train_examples, 0: ask at once.
    settle_window: int | None = None
    settle_rise_z: float = 1.0
    settle_patience: int | None = None  # labels after the detection; None: 5 settle windows
    still_worse_z: float = 3.0
    ask_again_growth: float | None = 2.0

    def settling(self) -> Settling | None:
        window = self.min_train_examples if self.settle_window is None else self.settle_window
        if not window:
            return None
        half = max(window // 2, 1)
        return Settling(half, self.settle_rise_z, max(self.settle_patience or 5 * window, 2 * half))


@dataclasses.dataclass
class Asked:
    """The last request made for the serving version's episodes, while unanswered."""

    keys: list[Episode]
    since: int
    reason: str
    alert_ids: list[str]
    repeats: int = 0
    request_id: str | None = None
    turned_down: bool = False
    level: list | None = None  # the losses it was asked on (Settling.level), where there is settling
    grown_from: list[int] | None = None  # [labels at the answer, rows of the rejected window]
    unclear: bool = False  # the rejected challenger scored better, short of the gate's confidence


class RetrainScheduler:
    """The retrain requests of one model (see the module docstring)."""

    def __init__(self, model_id: str, config: SchedulerConfig | None = None) -> None:
        self.model_id = model_id
        self.config = config or SchedulerConfig()
        self.version: str | None = None
        self.at: int | None = None  # event time of the request in flight
        self.at_version: str | None = None
        self._reset_version()

    def _reset_version(self) -> None:
        self.waiting: list[AlertRef] = []  # alerts of episodes that asked, not yet acted on
        self.asking: list[Episode] = []  # the episodes behind them
        self.asked: Asked | None = None
        self.settling = self.config.settling()
        self.settling_since: int | None = None  # the detection being settled, while it is

    # ------------------------------------------------------------ inputs

    def on_version(self, version: str) -> None:
        """A new version serves: its predecessor's request in flight is answered."""
        if self.version is not None and self.at_version == self.version:
            self.at = self.at_version = None
        self.version = version
        self._reset_version()

    def episode_asks(self, key: Episode, alert: AlertRef) -> None:
        """The alert policy says episode ``key`` asks for retraining; ``alert`` is its latest."""
        self.waiting.append(alert)
        self.asking.append(key)

    def observe_losses(self, losses: np.ndarray, ts: np.ndarray) -> None:
        if self.settling is not None and self.version != NO_MODEL:
            self.settling.observe(losses, ts)

    def rolled_back(self, watermark: int) -> None:
        """A rollback answers the drift: nothing more is asked until the cooldown has passed."""
        self.waiting, self.asking, self.settling_since = [], [], None
        self.at, self.at_version = watermark, None

    def answered(self, announced: ModelVersion, labeled: int) -> None:
        """The retrainer's answer to a request, from ``model-versions``; ``labeled``: labels of the version so far."""
        asked = self.asked
        if (asked is None or announced.status != "rejected" or announced.model_id != self.model_id
                or announced.request_id != asked.request_id):
            return
        asked.turned_down = True
        asked.grown_from = [labeled, int(announced.metrics.get("n_examples") or 0)]
        gate = announced.metrics.get("gate") or {}
        asked.unclear = bool(gate.get("against") == "champion" and (gate.get("gain") or 0) > 0)

    # ------------------------------------------------------------ decisions

    def poll(self, now_ms: int, watermark: int, labeled: int,
             open_keys: list[Episode]) -> RetrainRequest | None:
        """The request to publish now, if any.

        ``watermark`` is the model's clock, ``labeled`` the labels the serving
        version has had, ``open_keys`` the alert policy's open episodes.
        """
        c = self.config
        asked, fresh = self.asked, bool(self.waiting)
        repeats = asked.repeats if asked and not fresh else 0
        # After a turned-down request, errors that rose again since: see answered().
        lifted = bool(asked is not None and asked.turned_down and asked.level is not None
                      and self.settling.above(asked.level, c.still_worse_z))
        # A repeat waits twice as long as the request before it.
        cooling = (self.at is not None and not lifted
                   and watermark - self.at < c.retrain_cooldown_ms * 2 ** repeats)
        # A window grown since the turn-down lets only that request be asked again: a second
        # episode on the same drift joins it rather than asking from its own start.
        grown = bool(asked is not None and asked.turned_down and self._grown(asked, labeled))
        if cooling and not grown:
            return None
        if self.version == NO_MODEL and labeled >= c.min_train_examples:
            reason, since, alert_ids = "no champion yet: first version", 0, []
        elif self.waiting and not cooling:
            _, since, reason = self.waiting[0]
            # since: the detection's event time. Training only on data after it keeps
            # the old concept out of the window, at the cost of waiting for new labels.
            alert_ids = [a[0] for a in self.waiting]
            if self.settling is not None and any(k in ON_LABELS for k, _ in self.asking):
                settled = self._settled(since)
                if settled is None:
                    return None  # the drift is still under way
                if settled > since:
                    reason = (f"{reason} (window from event time {settled}, where the errors "
                              f"stopped rising after the detection at {since})")
                since = settled
            self.asked = Asked(keys=list(self.asking), since=since, reason=reason,
                               alert_ids=alert_ids)
        elif asked and self.at is not None and (why := self._why_ask_again(asked, grown, open_keys,
                                                                            cooling)):
            since, alert_ids = asked.since, asked.alert_ids
            if lifted:
                # The drift moved on since the window that was turned down (asked in the middle
                # of a change that had seemed to settle): the window starts where it settles now.
                settled = self._settled(self.at)
                if settled is None:
                    return None
                since = max(since, settled)
                why = "the errors rose again since it was turned down"
            elif grown:
                labels, rows = asked.grown_from
                why = (f"{why}, and {labeled - labels} labels have come since "
                       f"the {rows} it was turned down on")
                alert_ids = asked.alert_ids = list(dict.fromkeys(
                    alert_ids + [a[0] for a in self.waiting]))
            asked.repeats += 1
            reason = f"{asked.reason} (asked again: {why} and the last request gave no new version)"
        else:
            return None
        self.waiting, self.asking = [], []
        self.settling_since = None
        self.at = watermark
        self.at_version = self.version
        request = RetrainRequest(request_id=new_id(), model_id=self.model_id, alert_ids=alert_ids,
                                 since_ts=since, ts=now_ms, reason=reason)
        if self.asked is not None:  # what answered() matches, and the errors it was asked on
            self.asked.request_id = request.request_id
            self.asked.turned_down = False
            self.asked.level = None if self.settling is None else self.settling.level()
        return request

    def _settled(self, since: int) -> int | None:
        """Where the drift found at event time ``since`` has settled (see Settling.ready); None: not yet."""
        if self.settling_since is None:
            self.settling.start(since)
            self.settling_since = since
        return self.settling.ready()

    def _grown(self, asked: Asked, labeled: int) -> bool:
        """Whether the turned-down window has grown ``ask_again_growth`` times."""
        growth, (labels, rows) = self.config.ask_again_growth, asked.grown_from or (0, 0)
        return bool(growth and rows and labeled - labels >= (growth - 1.0) * rows)

    def _why_ask_again(self, asked: Asked, grown: bool, open_keys: list[Episode],
                       cooling: bool = False) -> str | None:
        """Why the last request, which gave no new version, should be repeated; None: it should not.

        Its episodes are still open (a reason once the cooldown is over, not
        before: the window grown alone does not lift it); or it was about the labels and the serving
        version's newest losses stay above those before the drift (the gate turned
        the retrain down on too few labels, and a window grown since may tell);
        or, its window ``grown``, the challenger turned down had scored better
        than the champion, short of the gate's confidence.
        """
        if not cooling and set(asked.keys) & set(open_keys):
            return "the drift goes on"
        if (self.settling is not None and any(k in ON_LABELS for k, _ in asked.keys)
                and self.settling.worse(self.config.still_worse_z, newest=2 * self.settling.half)):
            return "the version still does worse than before the drift"
        if grown and asked.unclear:
            return ("the challenger turned down had scored better than the champion, "
                    "short of the gate's confidence")
        return None

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": self.version, "at": self.at, "at_version": self.at_version,
            "waiting": [list(a) for a in self.waiting], "asking": [list(k) for k in self.asking],
            "asked": None if self.asked is None else dataclasses.asdict(self.asked),
            "settling": None if self.settling is None else self.settling.state_dict(),
            "settling_since": self.settling_since,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.version = state["version"]
        self.at, self.at_version = state["at"], state["at_version"]
        self.waiting = [(str(a), int(t), str(m)) for a, t, m in state["waiting"]]
        self.asking = [(str(k), f) for k, f in state["asking"]]
        asked = state["asked"]
        if asked is not None:
            asked = Asked(**{**asked, "keys": [(str(k), f) for k, f in asked["keys"]]})
        self.asked = asked
        self.settling = None if state["settling"] is None else Settling.from_state(state["settling"])
        self.settling_since = state["settling_since"]

"""Alert policy: one drift is one alert, severity only rises, and when to ask for retraining."""

from __future__ import annotations

import numbers
from collections.abc import Iterable

from driftline.contract import ALERT_KINDS
from driftline.detectors._checks import check_positive_int
from driftline.detectors.base import Detection, Key

RETRAIN_ON = ("concept_drift", "performance")

# Episode fields, by position in the per-key list (kept as a list: it is
# pickled with the monitor's state for every batch).
_OPEN, _CLEAN, _REOPEN_AT, _CRITICAL, _HITS, _ASKED = range(6)


class AlertPolicy:
    """Turns a stream of detections into alerts and retrain decisions, per key.

    A key is ``(kind, detector, feature)``. A detection for a key with no open
    episode opens one and is passed on as an alert. While the episode is open:

    - further detections are swallowed, except the first ``"critical"`` one of
      an episode that opened as ``"warning"``, which is passed on once as an
      escalation. Severity never steps down inside an episode: that is the
      hysteresis, so an ops team is not paged back and forth between levels by
      a statistic hovering around the critical threshold;
    - the episode closes once the key has been checked ``recover_windows``
      times in a row without a detection; after that, the key cannot open a
      new episode until ``cooldown`` more items have been seen.

    Retraining is asked for at most once per episode, by episodes whose kind
    is in ``retrain_on``: at once for concept drift (and any other listed
    kind), and for ``"performance"`` only once the drop is confirmed, i.e.
    the episode is critical or has had ``confirm_windows`` detections. Data
    drift alone only warns unless ``retrain_on`` lists ``"data_drift"``.

    One policy may serve several detectors if each call passes detectors that
    count the same items (e.g. all those fed the prediction rows), since
    ``n_seen`` and the cooldown are counted in those items.

    Parameters
    ----------
    recover_windows
        Consecutive clean checks that end an episode.
    cooldown
        Items, counted from the close, before the same key can alert again.
    retrain_on
        Alert kinds whose episodes ask for retraining.
    confirm_windows
        Detections that confirm a performance drop of ``"warning"`` severity.

    Examples
    --------
    >>> from driftline.detectors import AlertPolicy, Detection
    >>> policy = AlertPolicy(recover_windows=2, cooldown=1000)
    >>> key = ("data_drift", "ks", "amount")
    >>> def window(n_seen, severity=None):
    ...     hits = [Detection(*key, value=0.3, threshold=0.1, batch_index=499,
    ...                       severity=severity, message="amount moved")] if severity else []
    ...     return [a.severity for a in policy.observe(hits, n_seen, checked=[key])]
    >>> [window(500 * i, s) for i, s in enumerate(
    ...     ["warning", "critical", None, "warning", "critical", None, None, "warning", "critical"],
    ...     start=1)]
    [['warning'], ['critical'], [], [], [], [], [], [], ['critical']]

    The episode opened at 500 rows as a warning and escalated once at 1000;
    later critical windows in the same episode were swallowed. The clean
    windows at 3000 and 3500 closed it, the cooldown kept the warning at 4000
    quiet, and at 4500 a new episode opened. Data drift never asks for
    retraining by default; a confirmed performance drop does:

    >>> perf = ("performance", "accuracy", None)
    >>> drop = Detection(*perf, value=0.7, threshold=0.8, batch_index=0,
    ...                  severity="warning", message="accuracy fell")
    >>> [a.severity for a in policy.observe([drop], 100, [perf])], policy.retrain_keys
    (['warning'], [])
    >>> policy.observe([drop], 200, [perf]), policy.retrain_keys
    ([], [('performance', 'accuracy', None)])
    """

    def __init__(self, recover_windows: int = 3, cooldown: int = 5000,
                 retrain_on: tuple[str, ...] = RETRAIN_ON, confirm_windows: int = 2) -> None:
        self.recover_windows = check_positive_int("recover_windows", recover_windows)
        if isinstance(cooldown, bool) or not isinstance(cooldown, int) or cooldown < 0:
            raise ValueError(f"cooldown must be an integer >= 0, got {cooldown!r}")
        self.cooldown = cooldown
        if isinstance(retrain_on, str) or not set(retrain_on) <= set(ALERT_KINDS):
            raise ValueError(f"retrain_on must be a tuple of alert kinds {ALERT_KINDS}, got {retrain_on!r}")
        self.retrain_on = tuple(retrain_on)
        self.confirm_windows = check_positive_int("confirm_windows", confirm_windows)
        self._reset()

    def _reset(self) -> None:
        # key -> [open, clean checks in a row, n_seen from which it may open again,
        #         critical, detections in the episode, asked for retraining]
        self._episodes: dict[Key, list] = {}
        self._retrain: list[Key] = []

    def observe(self, detections: Iterable[Detection], n_seen: int,
                checked: Iterable[Key] = ()) -> list[Detection]:
        """The detections to publish as alerts (openings and escalations), in their order.

        ``detections`` and ``checked`` are what a detector's last ``update()``
        reported (its ``detections`` and ``checked``); ``n_seen`` is its
        ``n_seen`` after that update. Afterwards :attr:`retrain_keys` lists the
        episodes that ask for retraining as of this call.
        """
        if isinstance(n_seen, bool) or not isinstance(n_seen, numbers.Integral):
            raise TypeError(f"observe(detections, n_seen, checked): n_seen must be the "
                            f"detector's n_seen (an int), got {type(n_seen).__name__}")
        alerts = []
        self._retrain = []
        hit: set[Key] = set()
        for d in detections:
            key = d.key
            episode = self._episodes.get(key)
            critical = d.severity == "critical"
            if episode is not None and episode[_OPEN]:
                if key not in hit:
                    episode[_CLEAN] = 0
                    episode[_HITS] += 1
                if critical and not episode[_CRITICAL]:
                    episode[_CRITICAL] = True
                    alerts.append(d)
            elif key not in hit and (episode is None or n_seen >= episode[_REOPEN_AT]):
                episode = self._episodes[key] = [True, 0, 0, critical, 1, False]
                alerts.append(d)
            else:
                continue
            hit.add(key)
            if not episode[_ASKED] and self._asks(key[0], episode):
                episode[_ASKED] = True
                self._retrain.append(key)
        for key in map(tuple, checked):
            episode = self._episodes.get(key)
            if key in hit or episode is None:
                continue
            if not episode[_OPEN]:
                # Past its cooldown a closed episode carries no information. Only keys
                # of this call are pruned: other detectors count n_seen in other items.
                if n_seen >= episode[_REOPEN_AT]:
                    del self._episodes[key]
                continue
            episode[_CLEAN] += 1
            if episode[_CLEAN] >= self.recover_windows:
                self._episodes[key] = [False, 0, n_seen + self.cooldown, False, 0, False]
        return alerts

    def _asks(self, kind: str, episode: list) -> bool:
        if kind not in self.retrain_on:
            return False
        if kind != "performance":
            return True
        return episode[_CRITICAL] or episode[_HITS] >= self.confirm_windows

    @property
    def retrain_keys(self) -> list[Key]:
        """Episodes that asked for retraining during the last :meth:`observe`, each once."""
        return list(self._retrain)

    @property
    def open_keys(self) -> list[Key]:
        """Keys with an episode under way."""
        return [k for k, episode in self._episodes.items() if episode[_OPEN]]

    def reset(self) -> None:
        self._reset()

    def _params(self) -> dict:
        return dict(recover_windows=self.recover_windows, cooldown=self.cooldown,
                    retrain_on=self.retrain_on, confirm_windows=self.confirm_windows)

    def clone(self) -> AlertPolicy:
        return AlertPolicy(**self._params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"AlertPolicy({args})"

    def state_dict(self) -> dict:
        """Picklable plain data: ``[kind, detector, feature, open, clean, reopen_at, critical, hits, asked]`` per key."""
        return {"episodes": [[*key, *episode] for key, episode in self._episodes.items()]}

    def load_state_dict(self, state: dict) -> None:
        try:
            episodes = {tuple(row[:3]): _episode(row[3:]) for row in state["episodes"]}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"not an AlertPolicy state: {exc!r}") from None
        self._episodes = episodes
        self._retrain = []

    def __setstate__(self, state: dict) -> None:
        # Monitor state pickled before severities and retrain rules were tracked
        # holds three fields per episode; it reads as warning-level, not yet asked.
        self.__dict__.update(state)
        self.__dict__.setdefault("retrain_on", RETRAIN_ON)
        self.__dict__.setdefault("confirm_windows", 2)
        self.__dict__.setdefault("_retrain", [])
        self._episodes = {k: _episode(v) for k, v in self._episodes.items()}


def _episode(fields: list) -> list:
    if len(fields) == 3:
        fields = [*fields, False, 1, False]
    if len(fields) != 6:
        raise ValueError(f"an episode has 6 fields, got {len(fields)}")
    return [bool(fields[0]), int(fields[1]), int(fields[2]), bool(fields[3]), int(fields[4]),
            bool(fields[5])]

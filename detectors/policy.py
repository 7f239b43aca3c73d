"""Alert policy: one drift is one alert, severity only rises, and when to ask for retraining."""

from __future__ import annotations

import numbers
from collections.abc import Iterable

from driftline.contract import ALERT_KINDS
from driftline.detectors._checks import check_positive_int
from driftline.detectors.base import Detection, Key

RETRAIN_ON = ("concept_drift", "performance")

# What an episode is about: (kind, feature or None). Several detectors may see
# one drift (a windowed test and a sequential one on the same feature); it is
# still one drift, so one episode and one alert.
Episode = tuple[str, "str | None"]

# Episode fields, by position (a list: it is pickled with the monitor's state
# for every batch): open, n_seen from which it may open again, critical,
# detections so far, asked for retraining, and per detector that found it,
# its clean checks in a row.
_OPEN, _REOPEN_AT, _CRITICAL, _HITS, _ASKED, _CLEAN = range(6)


class AlertPolicy:
    """Turns a stream of detections into alerts and retrain decisions, per drift episode.

    An episode is about ``(kind, feature)``. A detection for one with no open
    episode opens one and is passed on as an alert, whichever detector made
    it. While the episode is open:

    - further detections are swallowed, except the first ``"critical"`` one of
      an episode that opened as ``"warning"``, which is passed on once as an
      escalation. Severity never steps down inside an episode: that is the
      hysteresis, so an ops team is not paged back and forth between levels by
      a statistic hovering around the critical threshold;
    - the episode closes once every detector that found it has been checked
      ``recover_windows`` times in a row without a detection, i.e. once the
      detectors have recovered; after that, the episode cannot open again
      until ``cooldown`` more items have been seen (:attr:`closed_keys`).
      A change detector (``sequential``: CUSUM, ADWIN, river's) starts over
      after each detection, so its silence says the stream stopped changing,
      not that it is back: for it the clean checks that count are those of
      the tests against the reference on the same stream (a performance test
      for a concept drift), and while none runs the episode stays open.

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
        Consecutive clean checks of each detector that end an episode.
    cooldown
        Items, counted from the close, before the same episode can open again.
    retrain_on
        Alert kinds whose episodes ask for retraining.
    confirm_windows
        Detections that confirm a performance drop of ``"warning"`` severity.
    sequential
        Names of the change detectors; by default every detector class with
        ``sequential = True``.

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
    ([], [('performance', None)])
    """

    def __init__(self, recover_windows: int = 3, cooldown: int = 5000,
                 retrain_on: tuple[str, ...] = RETRAIN_ON, confirm_windows: int = 2,
                 sequential: Iterable[str] | None = None) -> None:
        self.recover_windows = check_positive_int("recover_windows", recover_windows)
        if isinstance(cooldown, bool) or not isinstance(cooldown, int) or cooldown < 0:
            raise ValueError(f"cooldown must be an integer >= 0, got {cooldown!r}")
        self.cooldown = cooldown
        if isinstance(retrain_on, str) or not set(retrain_on) <= set(ALERT_KINDS):
            raise ValueError(f"retrain_on must be a tuple of alert kinds {ALERT_KINDS}, got {retrain_on!r}")
        self.retrain_on = tuple(retrain_on)
        self.confirm_windows = check_positive_int("confirm_windows", confirm_windows)
        self.sequential = _sequential_names() if sequential is None else frozenset(sequential)
        self._reset()

    def _reset(self) -> None:
        self._episodes: dict[Episode, list] = {}
        self._retrain: list[Episode] = []
        self._closed: list[Episode] = []

    def observe(self, detections: Iterable[Detection], n_seen: int,
                checked: Iterable[Key] = ()) -> list[Detection]:
        """The detections to publish as alerts (openings and escalations), in their order.

        ``detections`` and ``checked`` are what detectors' last ``update()``
        reported (their ``detections`` and ``checked``); ``n_seen`` is their
        ``n_seen`` after that update. Afterwards :attr:`retrain_keys` lists the
        episodes that ask for retraining as of this call, and :attr:`closed_keys`
        those it closed.
        """
        if isinstance(n_seen, bool) or not isinstance(n_seen, numbers.Integral):
            raise TypeError(f"observe(detections, n_seen, checked): n_seen must be the "
                            f"detector's n_seen (an int), got {type(n_seen).__name__}")
        alerts = []
        self._retrain = []
        self._closed = []
        hit: set[Key] = set()  # (kind, detector, feature) found in this call
        counted: set[Episode] = set()
        for d in detections:
            ek = (d.kind, d.feature)
            episode = self._episodes.get(ek)
            critical = d.severity == "critical"
            if episode is not None and episode[_OPEN]:
                episode[_CLEAN][d.detector] = 0
                if ek not in counted:
                    episode[_HITS] += 1
                if critical and not episode[_CRITICAL]:
                    episode[_CRITICAL] = True
                    alerts.append(d)
            elif episode is None or n_seen >= episode[_REOPEN_AT]:
                episode = self._episodes[ek] = [True, 0, critical, 1, False, {d.detector: 0}]
                alerts.append(d)
            else:
                continue  # cooling down
            hit.add(d.key)
            counted.add(ek)
            if not episode[_ASKED] and self._asks(d.kind, episode):
                episode[_ASKED] = True
                self._retrain.append(ek)
        vouched: set[Episode] = set()
        for key in dict.fromkeys(map(tuple, checked)):
            kind, detector, feature = key
            if key in hit or detector in self.sequential:
                continue  # a change detector's silence after a detection proves nothing
            for ek in _vouches_for(kind, feature):
                episode = self._episodes.get(ek)
                if episode is None or ek in counted:
                    continue
                if not episode[_OPEN]:
                    # Past its cooldown a closed episode carries no information. Only keys
                    # of this call are pruned: other detectors count n_seen in other items.
                    if ek == (kind, feature) and n_seen >= episode[_REOPEN_AT]:
                        del self._episodes[ek]
                    continue
                clean = episode[_CLEAN]
                if detector in clean:
                    clean[detector] += 1
                if ek not in vouched:
                    # A change detector that found the drift is answered by the tests
                    # against the reference on the same stream, once per call.
                    vouched.add(ek)
                    for name in clean:
                        if name in self.sequential:
                            clean[name] += 1
                if clean and min(clean.values()) >= self.recover_windows:
                    self._episodes[ek] = [False, n_seen + self.cooldown, False, 0, False, {}]
                    self._closed.append(ek)
        return alerts

    def _asks(self, kind: str, episode: list) -> bool:
        if kind not in self.retrain_on:
            return False
        if kind != "performance":
            return True
        return episode[_CRITICAL] or episode[_HITS] >= self.confirm_windows

    @property
    def retrain_keys(self) -> list[Episode]:
        """``(kind, feature)`` of the episodes that asked for retraining in the last :meth:`observe`."""
        return list(self._retrain)

    @property
    def closed_keys(self) -> list[Episode]:
        """``(kind, feature)`` of the episodes the last :meth:`observe` closed: their drift is over."""
        return list(self._closed)

    @property
    def open_keys(self) -> list[Episode]:
        """``(kind, feature)`` of the episodes under way."""
        return [k for k, episode in self._episodes.items() if episode[_OPEN]]

    def reset(self) -> None:
        self._reset()

    def _params(self) -> dict:
        return dict(recover_windows=self.recover_windows, cooldown=self.cooldown,
                    retrain_on=self.retrain_on, confirm_windows=self.confirm_windows,
                    sequential=tuple(sorted(self.sequential)))

    def clone(self) -> AlertPolicy:
        return AlertPolicy(**self._params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"AlertPolicy({args})"

    def state_dict(self) -> dict:
        """Picklable plain data: ``[kind, feature, open, reopen_at, critical, hits, asked, clean]`` per episode."""
        return {"episodes": [[*key, *episode[:_CLEAN], dict(episode[_CLEAN])]
                             for key, episode in self._episodes.items()]}

    def load_state_dict(self, state: dict) -> None:
        try:
            episodes = {tuple(row[:2]): _episode(row[2:]) for row in state["episodes"]}
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise ValueError(f"not an AlertPolicy state: {exc!r}") from None
        self._episodes = episodes
        self._retrain = []
        self._closed = []

    def __setstate__(self, state: dict) -> None:
        # Monitor state pickled before episodes spanned detectors keys them by
        # (kind, detector, feature) with three fields: open, clean, reopen_at.
        episodes = {}
        for key, old in state.get("_episodes", {}).items():
            if len(key) == 3:
                kind, detector, feature = key
                old = [old[0], old[2], False, 1, False, {detector: old[1]} if old[0] else {}]
                key = (kind, feature)
            episodes[key] = old
        self.__dict__.update(state)
        self.__dict__.setdefault("retrain_on", RETRAIN_ON)
        self.__dict__.setdefault("confirm_windows", 2)
        self.__dict__.setdefault("sequential", _sequential_names())
        self._episodes = episodes
        self._retrain = []
        self._closed = []


def _vouches_for(kind: str, feature: str | None) -> tuple[Episode, ...]:
    """The episodes a clean test of ``(kind, feature)`` speaks for: its own, and for a
    performance test also the concept drift of the model (the same errors, seen as a change)."""
    if kind == "performance":
        return ((kind, feature), ("concept_drift", feature))
    return ((kind, feature),)


def _sequential_names() -> frozenset[str]:
    from driftline.detectors import DETECTORS

    return frozenset(name for cls in DETECTORS.values() if cls.sequential for name in cls.names)


def _episode(fields: list) -> list:
    if len(fields) != 6 or not isinstance(fields[5], dict):
        raise ValueError(f"an episode is [open, reopen_at, critical, hits, asked, clean], got {fields!r}")
    return [bool(fields[0]), int(fields[1]), bool(fields[2]), int(fields[3]), bool(fields[4]),
            {str(k): int(v) for k, v in fields[5].items()}]

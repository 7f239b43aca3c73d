"""Alert deduplication: one drift is one alert, not one per window."""

from __future__ import annotations

import numbers
from collections.abc import Iterable

from driftline.detectors._checks import check_positive_int
from driftline.detectors.base import Detection, Key


class AlertPolicy:
    """Hysteresis over detections, per key ``(kind, detector, feature)``.

    A detection for a key with no open episode opens one and is passed on;
    further detections for that key are swallowed while the episode is open.
    The episode closes once the key has been checked ``recover_windows`` times
    in a row without a detection. After it closes, a new episode for the key
    cannot open until ``cooldown`` more items have been seen, so a drift that
    flickers around the threshold does not page every few windows.

    One policy may serve several detectors if each call passes detectors that
    count the same items (e.g. all those fed the prediction rows), since
    ``n_seen`` and the cooldown are counted in those items.

    Parameters
    ----------
    recover_windows
        Consecutive clean checks that end an episode.
    cooldown
        Items, counted from the close, before the same key can alert again.

    Examples
    --------
    >>> from driftline.detectors import AlertPolicy, Detection
    >>> policy = AlertPolicy(recover_windows=2, cooldown=1000)
    >>> key = ("data_drift", "ks", "amount")
    >>> hit = Detection(*key, value=0.3, threshold=0.1, batch_index=499,
    ...                 severity="critical", message="amount moved")
    >>> def window(n_seen, drifted):
    ...     alerts = policy.observe([hit] if drifted else [], n_seen, checked=[key])
    ...     return len(alerts)
    >>> [window(500 * i, drifted) for i, drifted in enumerate(
    ...     [True, True, False, True, False, False, True, True, True], start=1)]
    [1, 0, 0, 0, 0, 0, 0, 1, 0]

    The episode opened at 500 rows and outlived the single clean window at
    1500; the clean windows at 2500 and 3000 closed it. The cooldown kept the
    detection at 3500 quiet, and at 4000 a new episode opened.
    """

    def __init__(self, recover_windows: int = 3, cooldown: int = 5000) -> None:
        self.recover_windows = check_positive_int("recover_windows", recover_windows)
        if isinstance(cooldown, bool) or not isinstance(cooldown, int) or cooldown < 0:
            raise ValueError(f"cooldown must be an integer >= 0, got {cooldown!r}")
        self.cooldown = cooldown
        self._reset()

    def _reset(self) -> None:
        # key -> [open, clean checks in a row, n_seen from which it may open again]
        self._episodes: dict[Key, list] = {}

    def observe(self, detections: Iterable[Detection], n_seen: int,
                checked: Iterable[Key] = ()) -> list[Detection]:
        """The detections that open a new episode, in their order.

        ``detections`` and ``checked`` are what a detector's last ``update()``
        reported (its ``detections`` and ``checked``); ``n_seen`` is its
        ``n_seen`` after that update.
        """
        if isinstance(n_seen, bool) or not isinstance(n_seen, numbers.Integral):
            raise TypeError(f"observe(detections, n_seen, checked): n_seen must be the "
                            f"detector's n_seen (an int), got {type(n_seen).__name__}")
        opened = []
        hit: set[Key] = set()
        for d in detections:
            key = d.key
            if key in hit:
                continue
            hit.add(key)
            episode = self._episodes.get(key)
            if episode is not None and episode[0]:
                episode[1] = 0
            elif episode is None or n_seen >= episode[2]:
                self._episodes[key] = [True, 0, 0]
                opened.append(d)
        for key in map(tuple, checked):
            episode = self._episodes.get(key)
            if key in hit or episode is None:
                continue
            if not episode[0]:
                # Past its cooldown a closed episode carries no information. Only keys
                # of this call are pruned: other detectors count n_seen in other items.
                if n_seen >= episode[2]:
                    del self._episodes[key]
                continue
            episode[1] += 1
            if episode[1] >= self.recover_windows:
                self._episodes[key] = [False, 0, n_seen + self.cooldown]
        return opened

    @property
    def open_keys(self) -> list[Key]:
        """Keys with an episode under way."""
        return [k for k, episode in self._episodes.items() if episode[0]]

    def reset(self) -> None:
        self._reset()

    def clone(self) -> AlertPolicy:
        return AlertPolicy(recover_windows=self.recover_windows, cooldown=self.cooldown)

    def __repr__(self) -> str:
        return f"AlertPolicy(recover_windows={self.recover_windows}, cooldown={self.cooldown})"

    def state_dict(self) -> dict:
        """Picklable plain data: one ``[kind, detector, feature, open, clean, reopen_at]`` per key."""
        return {"episodes": [[*key, *episode] for key, episode in self._episodes.items()]}

    def load_state_dict(self, state: dict) -> None:
        try:
            episodes = {tuple(row[:3]): [bool(row[3]), int(row[4]), int(row[5])]
                        for row in state["episodes"]}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"not an AlertPolicy state: {exc!r}") from None
        self._episodes = episodes

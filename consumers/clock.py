"""One model's event-time clock: which event times are believable, and when they were seen.

Services stamp their events; the monitor expires labels, cools retrains down
and reports by those stamps, so one absurd stamp (a ``ts`` of 9e15 among
events of 2026) must not move them. An event is admitted when its time lies
within ``max_skew_ms`` of the model's clock, the clock itself allowed to run
on with the wall clock while the model is idle; the others are refused with
the reason. The clock starts at the median of the model's first batch, so a
service whose clock is 40 days ahead, or data replayed from ten years ago,
is watched as it is. If every one of ``reset_after`` events in a row is
refused for being too far behind, the clock was wrong and starts again from
them.

``watermark`` is the newest admitted event time. ``expiry`` is the time labels
are expired against: the largest batch median seen, so that one early
straggler or one event at the edge of the skew cannot expire every label
waiting.

The clock also remembers, now and then, which wall-clock time it had reached
which event time, so the retrainer can be told from when on the ``labeled``
topic (stamped with the monitor's processing time) a window's examples lie.

>>> import numpy as np
>>> clock = EventClock(max_skew_ms=86_400_000)
>>> ok, why = clock.admit(np.array([1_000, 2_000, 9 * 10**15]), now_ms=50)
>>> ok.tolist(), why[2]
([True, True, False], "event time 9000000000000000 is 104166666.7 days ahead of the model's clock (2000)")
>>> clock.watermark, clock.expiry
(2000, 2000)
"""

from __future__ import annotations

from typing import Any

import numpy as np

_DAY_MS = 86_400_000
_CHECKPOINTS = 128  # (event time, wall time) pairs kept; older ones are thinned out
_CHECKPOINT_EVERY_MS = 1000


class EventClock:
    """Parameters
    ----------
    max_skew_ms
        How far from the model's clock an event time may lie.
    reset_after
        Events in a row refused as too far behind after which the clock starts again.
    """

    def __init__(self, max_skew_ms: int = _DAY_MS, reset_after: int = 1000) -> None:
        self.max_skew_ms = int(max_skew_ms)
        self.reset_after = int(reset_after)
        self.watermark: int | None = None
        self.expiry: int | None = None
        self._wall: int = 0  # wall time at which the clock last moved
        self._behind = 0  # events in a row refused as too far behind
        self._marks: list[list[int]] = []  # [watermark, wall time]

    @property
    def started(self) -> bool:
        return self.watermark is not None

    def admit(self, ts: np.ndarray, now_ms: int) -> tuple[np.ndarray, dict[int, str]]:
        """Which of a batch's event times to take, and the reason for each one refused (by index).

        The clock moves with the admitted ones.
        """
        ts = np.asarray(ts, dtype=np.int64)
        if len(ts) == 0:
            return np.zeros(0, dtype=bool), {}
        reasons: dict[int, str] = {}
        if self.watermark is None:
            self._start(int(np.median(ts)), now_ms)
        idle = max(now_ms - self._wall, 0)
        upper = self.watermark + idle + self.max_skew_ms
        lower = self.watermark - self.max_skew_ms
        ok = (ts >= lower) & (ts <= upper)
        if not ok.all():
            for i in np.flatnonzero(~ok).tolist():
                t = int(ts[i])
                self._behind = self._behind + 1 if t < lower else 0
                side = "behind" if t < lower else "ahead of"
                days = abs(t - self.watermark) / _DAY_MS
                reasons[i] = (f"event time {t} is {days:.1f} days {side} the model's clock "
                              f"({self.watermark})")
            if self._behind >= self.reset_after:
                self._start(int(np.median(ts[~ok])), now_ms)
                self._behind = 0
        if ok.any():
            if ok[-1]:
                self._behind = 0
            taken = ts[ok]
            newest = int(taken.max())
            if newest > self.watermark:
                self.watermark = newest
                self._wall = now_ms
            middle = int(np.median(taken))
            if middle > self.expiry:
                self.expiry = middle
            self._mark(now_ms)
        return ok, reasons

    def _start(self, at: int, now_ms: int) -> None:
        self.watermark = self.expiry = at
        self._wall = now_ms
        self._marks = []

    def _mark(self, now_ms: int) -> None:
        marks = self._marks
        if marks and now_ms - marks[-1][1] < _CHECKPOINT_EVERY_MS:
            return
        marks.append([self.watermark, now_ms])
        if len(marks) > _CHECKPOINTS:
            half = len(marks) // 2
            self._marks = marks[:half:2] + marks[half:]

    def wall_time_before(self, event_ts: int) -> int | None:
        """A wall time by which no event at or after ``event_ts`` had been seen yet; None: unknown.

        Anything the monitor wrote about such events it wrote later: a reader of
        ``labeled`` may seek there.
        """
        best = None
        for watermark, wall in self._marks:
            if watermark < event_ts:
                best = wall
            else:
                break
        if best is None and self._marks:
            return None  # before every mark: the start of the log is the bound
        return best

    def state_dict(self) -> dict[str, Any]:
        return {"max_skew_ms": self.max_skew_ms, "reset_after": self.reset_after,
                "watermark": self.watermark, "expiry": self.expiry, "wall": self._wall,
                "behind": self._behind, "marks": [list(m) for m in self._marks]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EventClock:
        clock = cls(int(state["max_skew_ms"]), int(state["reset_after"]))
        clock.watermark = None if state["watermark"] is None else int(state["watermark"])
        clock.expiry = None if state["expiry"] is None else int(state["expiry"])
        clock._wall = int(state["wall"])
        clock._behind = int(state["behind"])
        clock._marks = [[int(a), int(b)] for a, b in state["marks"]]
        return clock

"""Where a drift has settled: the event time a retrain's window should start from.

A drift found early, in the middle of a gradual change, leaves the labels of
the next thousand events a mixture of the old concept and the new one. A
model trained on them learns neither; its gate measures it on the newest part
of the same mixture, so it keeps that promise live too, and nothing asks for
better until the next drift. :class:`Settling` watches the serving version's
losses (``1 - correct`` for a classifier, the absolute error for a regressor)
after the detection instead, and says the drift has settled once the newest
``2 * half`` of them show no rise, the newer half against the older one
(one-sided, at ``rise_z`` standard errors). The window then starts where the
older half starts, on the new concept alone. An abrupt drift has settled by
the time its first ``2 * half`` losses are in, so with ``2 * half`` no more
than the retrainer's ``min_train_examples`` it costs no wait: the retrainer
waits for that many labels after the detection anyway. A drift that never
settles is given ``patience`` losses, then the window is the newest ``2 *
half`` labels.

It also keeps what the version's losses were before the detection, so the
monitor can tell whether the version still does worse since (:meth:`worse`).

Pure logic: losses and their event times in, event times out.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> s = Settling(half=200, rise_z=1.0, patience=4000)
>>> ts = np.arange(3000)
>>> s.observe(rng.random(1000) < 0.1, ts[:1000])  # the old concept, 10% errors
>>> s.start(since_ts=999)
>>> # a gradual drift: the error rate climbs from 10% to 40% over 1,000 events, then stays
>>> rate = np.clip(0.1 + 0.3 * (ts[1000:] - 1000) / 1000, 0.1, 0.4)
>>> for k in range(1000, 3000, 100):
...     s.observe(rng.random(100) < rate[k - 1000:k - 900], ts[k:k + 100])
...     if s.ready() is not None:
...         break
>>> k + 100, s.ready()  # losses in when it settled, and where the window starts
(2200, 1800)
>>> s.worse(z=3.0)
True
"""

from __future__ import annotations

import math

import numpy as np

from driftline.detectors._checks import check_positive_int

_MIN_SIDE = 30  # losses on each side of a located rise
# A located rise must stand out this far (z) to move the window's start back: the
# largest of a thousand splits of a stationary stream exceeds 4 about once in 300 (measured
# for error rates 0.05 to 0.3); a rise of 0.07 to 0.2 with 200 losses after it clears it 9 times in 10.
_LOCATE_Z = 4.0


class Settling:
    """The serving version's recent losses, and where a drift found in them has settled.

    Parameters
    ----------
    half
        Losses in each half of the stretch tested for a rise; the window a
        retrain starts with holds ``2 * half`` labels.
    rise_z
        The newer half's mean loss this many standard errors above the
        older half's: still rising. Low, because calling a drift settled too
        early costs a model trained on a mixture, and waiting a little costs
        little.
    patience
        Losses after the detection after which the window is the newest
        ``2 * half`` whatever they show.
    """

    def __init__(self, half: int = 500, rise_z: float = 1.0, patience: int = 5000) -> None:
        self.half = check_positive_int("half", half)
        if not rise_z >= 0:
            raise ValueError(f"rise_z must be a number >= 0, got {rise_z!r}")
        self.rise_z = float(rise_z)
        self.patience = check_positive_int("patience", patience)
        if self.patience < 2 * self.half:
            raise ValueError(f"patience must be at least 2 * half = {2 * self.half}, got {patience}")
        self._loss = np.zeros(2 * self.half)
        self._ts = np.zeros(2 * self.half, dtype=np.int64)
        self._n = 0  # losses observed, all told (the ring holds the newest 2 * half)
        self.since: int | None = None  # the detection's event time, while one is settling
        self._after = 0  # losses observed with an event time after it
        # [n, sum, sum of squares] of the losses before the detection, and after it
        self._before = [0, 0.0, 0.0]
        self._since_stats = [0, 0.0, 0.0]

    def observe(self, losses, ts) -> None:
        """The losses of a batch of labeled events of the serving version, with their event times.

        NaN losses (unknown) are skipped.
        """
        losses = np.asarray(losses, dtype=np.float64).ravel()
        ts = np.asarray(ts, dtype=np.int64).ravel()
        if losses.shape != ts.shape:
            raise ValueError(f"losses and ts must have the same length, got {losses.shape} and {ts.shape}")
        keep = ~np.isnan(losses)
        losses, ts = losses[keep], ts[keep]
        if self.since is None:
            _add(self._before, losses)
        else:
            after = ts > self.since
            self._after += int(after.sum())
            _add(self._since_stats, losses[after])
            _add(self._before, losses[~after])
        size = len(self._loss)
        for start in range(0, len(losses), size):
            chunk, chunk_ts = losses[start:start + size], ts[start:start + size]
            slots = (self._n + np.arange(len(chunk))) % size
            self._loss[slots], self._ts[slots] = chunk, chunk_ts
            self._n += len(chunk)

    def start(self, since_ts: int) -> None:
        """A drift asks for retraining; it was found at event time ``since_ts``.

        A detector finds a change some labels after it began; if the losses
        held show where they rose, the drift is taken to start there.
        """
        losses, ts = self._ordered()
        rise = locate_rise(losses[ts <= since_ts])
        again = self.since is not None
        self.since = int(since_ts) if rise is None else min(int(since_ts), int(ts[rise]) - 1)
        later = losses[ts > self.since]
        self._after = len(later)
        self._since_stats = [0, 0.0, 0.0]
        _add(self._since_stats, later)
        if again:
            # Found again before the last was answered: "before" stays the losses before
            # the first (those since went to that detection, not to the baseline).
            return
        # This batch's losses were counted as before the detection; those after it are not.
        self._before = [self._before[0] - len(later), self._before[1] - float(later.sum()),
                        self._before[2] - float((later ** 2).sum())]

    def stop(self) -> None:
        """The drift has been answered (or given up on); the version's losses are one stretch again."""
        if self.since is not None:
            self._before = [a + b for a, b in zip(self._before, self._since_stats)]
        self.since = None
        self._after = 0
        self._since_stats = [0, 0.0, 0.0]

    def ready(self) -> int | None:
        """The event time a retrain's window starts from, once the drift has settled; else None."""
        if self.since is None or self._after < 2 * self.half:
            return None
        losses, ts = self._ordered()
        if self._after < self.patience and self.rise(losses[:self.half], losses[self.half:]) > self.rise_z:
            return None
        return int(ts[0])

    def worse(self, z: float, newest: int | None = None) -> bool:
        """Whether the losses since the detection are ``z`` standard errors above those before it.

        With ``newest``, only the newest that many of them (at most those held) count:
        whether the version *still* does worse, after a drift that may have passed.
        """
        if self.since is None:
            return False
        stats = self._since_stats
        if newest is not None:
            losses, ts = self._ordered()
            stats = [0, 0.0, 0.0]
            _add(stats, losses[ts > self.since][-newest:])
        return _above(stats, self._before, z)

    def level(self) -> list:
        """[n, sum, sum of squares] of the newest ``2 * half`` losses held, for :meth:`above`."""
        stats = [0, 0.0, 0.0]
        _add(stats, self._ordered()[0])
        return stats

    def above(self, then: list, z: float) -> bool:
        """Whether the newest ``2 * half`` losses are ``z`` standard errors above ``then``'s.

        ``then`` is what :meth:`level` said earlier: whether the errors rose again since.
        """
        return _above(self.level(), then, z)

    @staticmethod
    def rise(older: np.ndarray, newer: np.ndarray) -> float:
        """How many standard errors the newer losses' mean lies above the older ones'."""
        diff = float(newer.mean() - older.mean())
        se = math.sqrt(newer.var(ddof=1) / len(newer) + older.var(ddof=1) / len(older))
        if se == 0:
            return 0.0 if diff <= 0 else math.inf
        return diff / se

    def state_dict(self) -> dict:
        """Plain data to go on from (see :meth:`from_state`)."""
        return {"half": self.half, "rise_z": self.rise_z, "patience": self.patience,
                "loss": self._loss.copy(), "ts": self._ts.copy(), "n": self._n, "since": self.since,
                "after": self._after, "before": list(self._before), "since_stats": list(self._since_stats)}

    @classmethod
    def from_state(cls, state: dict) -> Settling:
        s = cls(int(state["half"]), float(state["rise_z"]), int(state["patience"]))
        loss, ts = np.asarray(state["loss"], dtype=np.float64), np.asarray(state["ts"], dtype=np.int64)
        if loss.shape != s._loss.shape or ts.shape != s._ts.shape:
            raise ValueError(f"a settle ring of {loss.shape} for half {s.half}")
        s._loss, s._ts, s._n = loss.copy(), ts.copy(), int(state["n"])
        s.since = None if state["since"] is None else int(state["since"])
        s._after = int(state["after"])
        s._before = [int(state["before"][0]), float(state["before"][1]), float(state["before"][2])]
        s._since_stats = [int(state["since_stats"][0]), float(state["since_stats"][1]),
                          float(state["since_stats"][2])]
        return s

    def _ordered(self) -> tuple[np.ndarray, np.ndarray]:
        size = len(self._loss)
        if self._n < size:
            return self._loss[:self._n], self._ts[:self._n]
        order = (self._n + np.arange(size)) % size
        return self._loss[order], self._ts[order]


def locate_rise(losses: np.ndarray, min_side: int = _MIN_SIDE, min_z: float = _LOCATE_Z) -> int | None:
    """Index of the first loss after the split where the mean loss rose most significantly.

    The split maximises the two-sample z statistic of the later mean over the
    earlier one, with at least ``min_side`` losses on each side; None if no
    split rises by ``min_z`` or more.

    >>> locate_rise(np.r_[np.zeros(100), np.ones(40)])
    100
    >>> locate_rise(np.r_[np.ones(100), np.zeros(40)]) is None
    True
    """
    n = len(losses)
    if n < 2 * min_side:
        return None
    csum, csq = np.cumsum(losses), np.cumsum(losses ** 2)
    k = np.arange(min_side, n - min_side + 1)  # losses before the split
    before, after = csum[k - 1] / k, (csum[-1] - csum[k - 1]) / (n - k)
    mean = csum[-1] / n
    var = max(csq[-1] / n - mean * mean, 1e-12)
    z = (after - before) / np.sqrt(var * (1.0 / k + 1.0 / (n - k)))
    best = int(np.argmax(z))
    return int(k[best]) if z[best] >= min_z else None


def _above(a: list, b: list, z: float) -> bool:
    """Whether the mean loss summed in ``a`` is ``z`` standard errors above ``b``'s."""
    n_a, n_b = a[0], b[0]
    if n_a < 2 or n_b < 2:
        return False
    mean_a, var_a = _moments(a)
    mean_b, var_b = _moments(b)
    se = math.sqrt(var_a / n_a + var_b / n_b)
    if se == 0:
        return mean_a > mean_b
    return (mean_a - mean_b) / se > z


def _add(stats: list, losses: np.ndarray) -> None:
    stats[0] += len(losses)
    stats[1] += float(losses.sum())
    stats[2] += float((losses ** 2).sum())


def _moments(stats: list) -> tuple[float, float]:
    n, s, ss = stats
    mean = s / n
    return mean, max(ss / n - mean * mean, 0.0) * n / (n - 1)

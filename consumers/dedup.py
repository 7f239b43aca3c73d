"""Event ids seen lately, so that an event delivered twice is counted once.

Ids are kept as 64-bit digests, computed for a whole batch at once, in a
ring of the newest ``size``; membership is a binary search in a sorted copy
of the ring, plus a look at the digests added since that copy was made. The
state is one small array, whatever the ids look like.

>>> recent = RecentIds(size=4)
>>> recent.seen(["p:a", "p:b", "p:a"]).tolist()  # the second "p:a" repeats the first
[False, False, True]
>>> recent.seen(["p:b", "p:c", "p:d", "p:e", "p:f"]).tolist()
[True, False, False, False, False]
>>> recent.seen(["p:a"]).tolist()  # pushed out of the ring of 4 by c, d, e and f
[False]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_OFFSET = np.uint64(0xCBF29CE484222325)
_PRIME = np.uint64(0x100000001B3)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S29, _S30, _S27, _S31 = (np.uint64(s) for s in (29, 30, 27, 31))


def digests(ids: Sequence[str]) -> np.ndarray:
    """A stable 64-bit digest of each id (the same in every process and on every machine).

    >>> digests(["a", "a", "b"]).tolist()[0] == digests(["a"]).tolist()[0]
    True
    """
    n = len(ids)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    try:  # ASCII ids: eight characters a step
        raw = np.array(ids, dtype="S")
        width = -(-raw.dtype.itemsize // 8) * 8
        words = raw.astype(f"S{width}").view(np.uint64).reshape(n, width // 8)
    except UnicodeEncodeError:  # any other text: two code points a step
        raw = np.array(ids)
        chars = raw.dtype.itemsize // 4
        chars += chars % 2
        words = raw.astype(f"U{chars}").view(np.uint64).reshape(n, chars // 2)
    with np.errstate(over="ignore"):
        h = np.full(n, _OFFSET, dtype=np.uint64)
        for j in range(words.shape[1]):
            h ^= words[:, j]
            h *= _PRIME
            h ^= h >> _S29
        # NUL padding is not part of an id: its length tells "a" from "a\0".
        h ^= np.fromiter(map(len, ids), dtype=np.uint64, count=n)
        h ^= h >> _S30
        h *= _MIX1
        h ^= h >> _S27
        h *= _MIX2
        h ^= h >> _S31
    h[h == 0] = 1  # 0 marks an empty slot of the ring
    return h


class RecentIds:
    """The newest ``size`` event ids of one model, as digests."""

    def __init__(self, size: int = 8192) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.size = size
        self._ring = np.zeros(size, dtype=np.uint64)
        self._next = 0
        self._sorted = np.zeros(0, dtype=np.uint64)
        self._fresh: set[int] = set()  # digests added since _sorted was made

    def seen(self, ids: Sequence[str]) -> np.ndarray:
        """Which of ``ids`` were seen before (earlier in the batch included); all are remembered."""
        d = digests(ids)
        dup = np.zeros(len(d), dtype=bool)
        if len(self._sorted):
            pos = np.searchsorted(self._sorted, d)
            pos[pos == len(self._sorted)] = 0
            dup = self._sorted[pos] == d
        fresh = self._fresh
        values = d.tolist()
        for i, v in enumerate(values):
            if dup[i] or v in fresh:
                dup[i] = True
            else:
                fresh.add(v)
        self._remember(d[~dup])
        return dup

    def _remember(self, new: np.ndarray) -> None:
        size = self.size
        if len(new) >= size:
            new = new[-size:]
        slots = (self._next + np.arange(len(new))) % size
        self._ring[slots] = new
        self._next = (self._next + len(new)) % size
        # Sorting the ring again costs as much for one new id as for many: it is done once
        # an eighth of the ring is new. Until then the ids the ring has let go of are still
        # found, so the newest `size` ids are always remembered, and up to an eighth more.
        if len(self._fresh) > max(size // 8, 1):
            self._rebuild()

    def _rebuild(self) -> None:
        ring = self._ring[self._ring != 0]
        self._sorted = np.sort(ring)
        self._fresh = set()

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "ring": self._ring.copy(), "next": self._next}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RecentIds:
        recent = cls(int(state["size"]))
        ring = np.asarray(state["ring"], dtype=np.uint64)
        if ring.shape != (recent.size,):
            raise ValueError(f"a ring of {ring.shape} for size {recent.size}")
        recent._ring = ring.copy()
        recent._next = int(state["next"]) % recent.size
        recent._rebuild()
        return recent

"""A byte budget shared by the threads that publish and the thread that gets the acks.

kafka-python 3 no longer bounds the memory of records waiting to be sent (its
``buffer_memory`` option is gone), so the publisher keeps the bound itself:
it takes bytes from the budget before handing a record to the producer and
gives them back when the broker has answered.

>>> budget = ByteBudget(100)
>>> budget.acquire(60, timeout=0)
True
>>> budget.acquire(60, timeout=0)
False
>>> budget.release(60)
>>> budget.acquire(60, timeout=0), budget.used
(True, 60)
"""

from __future__ import annotations

import threading
import time


class ByteBudget:
    """At most ``capacity`` bytes out at once; :meth:`acquire` waits for room.

    One request larger than the whole capacity is let through when nothing
    else is out, or it could never go.
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1 byte, got {capacity}")
        self.capacity = capacity
        self._used = 0
        self._room = threading.Condition(threading.Lock())

    @property
    def used(self) -> int:
        return self._used

    def _fits(self, n: int) -> bool:
        return self._used + n <= self.capacity or self._used == 0

    def acquire(self, n: int, timeout: float | None = None) -> bool:
        """Take ``n`` bytes, waiting up to ``timeout`` seconds (``None``: forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._room:
            while not self._fits(n):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._room.wait(left)
            self._used += n
            return True

    def release(self, n: int) -> None:
        with self._room:
            self._used -= n
            self._room.notify_all()

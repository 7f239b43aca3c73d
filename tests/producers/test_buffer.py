import threading
import time

import pytest

from driftline.producers.buffer import ByteBudget


def test_acquire_waits_until_bytes_are_released() -> None:
    budget = ByteBudget(10)
    assert budget.acquire(8)
    timer = threading.Timer(0.1, budget.release, args=(8,))
    timer.start()
    started = time.monotonic()
    assert budget.acquire(5, timeout=5)
    assert 0.05 < time.monotonic() - started < 2
    assert budget.used == 5
    timer.join()


def test_acquire_gives_up_after_timeout() -> None:
    budget = ByteBudget(10)
    budget.acquire(10)
    started = time.monotonic()
    assert not budget.acquire(1, timeout=0.1)
    assert time.monotonic() - started >= 0.1
    assert budget.used == 10


def test_a_record_larger_than_the_budget_passes_alone() -> None:
    budget = ByteBudget(10)
    assert budget.acquire(50, timeout=0)
    assert not budget.acquire(1, timeout=0)
    budget.release(50)
    assert budget.used == 0


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ByteBudget(0)

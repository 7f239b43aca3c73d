"""Settling: where a drift found on the labels has settled, and whether the version still does worse."""

from __future__ import annotations


import numpy as np
import pytest

from driftline.consumers.settle import Settling, locate_rise
from driftline.consumers.state import codec


def feed(s: Settling, rates: np.ndarray, start: int, rng: np.random.Generator | None, batch: int = 100):
    """Losses drawn at ``rates`` (one per event from event time ``start``; the rates
    themselves without ``rng``), batch by batch; the number of losses in when
    :meth:`Settling.ready` first answers, and its answer."""
    for k in range(0, len(rates), batch):
        ts = np.arange(start + k, start + min(k + batch, len(rates)))
        r = rates[k:k + batch]
        s.observe(r if rng is None else rng.random(len(ts)) < r, ts)
        if s.ready() is not None:
            return k + len(ts), s.ready()
    return None, None


def test_an_abrupt_drift_settles_at_once_from_where_the_errors_rose():
    rng = np.random.default_rng(1)
    s = Settling(half=250, rise_z=1.0, patience=5000)
    s.observe(rng.random(2000) < 0.1, np.arange(2000))
    s.observe(rng.random(200) < 0.4, np.arange(2000, 2200))  # the drift, found 200 labels in
    s.start(since_ts=2199)
    assert 1950 <= s.since < 2050  # located where the errors rose, not where it was found
    n, since = feed(s, np.full(2000, 0.4), 2200, rng)
    # 500 losses after the rise were 300 more after the detection: no wait beyond those.
    assert n == 300 and since == s.since + 1


def test_a_gradual_drift_settles_once_the_errors_stop_rising():
    rng = np.random.default_rng(2)
    s = Settling(half=500, rise_z=1.0, patience=10_000)
    s.observe(rng.random(2000) < 0.1, np.arange(2000))
    s.start(since_ts=1999)  # found early: the ramp has barely begun
    ramp = np.clip(0.1 + 0.4 * np.arange(6000) / 2000, 0.1, 0.5)  # ends 2,000 events in
    n, since = feed(s, ramp, 2000, rng)
    assert n is not None and n > 2000  # not while the errors rise
    assert since >= 2000 + 1500  # and the window holds the settled errors, not the ramp


def test_a_drift_that_never_settles_gives_the_newest_labels_after_patience():
    s = Settling(half=250, rise_z=3.0, patience=3000)
    s.observe(np.zeros(500), np.arange(500))
    s.start(since_ts=499)
    n, since = feed(s, np.linspace(0.0, 1.0, 6000), 500, None)  # absolute errors, rising throughout
    assert n == 3000 and since == 500 + 3000 - 500


def test_nothing_is_ready_before_a_drift_asks():
    s = Settling(half=50, patience=500)
    s.observe(np.ones(1000), np.arange(1000))
    assert s.since is None and s.ready() is None and not s.worse(z=1.0)


def found_after(rng: np.random.Generator, rate: float, half: int = 100) -> Settling:
    """A Settling that saw 3,000 losses at ``rate`` (event times 0..2999), then a detection at 2999."""
    s = Settling(half=half, patience=1000)
    s.observe(rng.random(3000) < rate, np.arange(3000))
    s.start(since_ts=2999)
    return s


def test_worse_compares_the_losses_since_the_drift_with_those_before():
    rng = np.random.default_rng(4)
    s = found_after(rng, 0.15)
    s.observe(rng.random(2000) < 0.15, np.arange(3000, 5000))
    assert not s.worse(z=2.0)  # a false alarm: the errors are what they were
    s.observe(rng.random(3000) < 0.25, np.arange(5000, 8000))
    assert s.worse(z=2.0)
    s.stop()  # answered: one stretch again, and nothing asks
    assert s.since is None and not s.worse(z=2.0)


def test_losses_of_the_batch_that_found_the_drift_count_after_it():
    s = Settling(half=50, rise_z=1.0, patience=1000)
    s.observe(np.r_[np.zeros(100), np.ones(50)], np.arange(150))
    s.start(since_ts=139)  # the detection rests on the event at 139; the rise began at 100
    assert s.since == 99
    s.observe(np.ones(40), np.arange(150, 190))
    assert s.ready() is None  # 90 losses after the rise
    s.observe(np.ones(10), np.arange(190, 200))
    assert s.ready() == 100  # 100, all of them wrong: settled


def test_unknown_losses_are_skipped_and_the_state_is_plain():
    s = Settling(half=10, patience=100)
    s.observe([0.0, np.nan, 1.0], [1, 2, 3])
    s.start(since_ts=1)
    restored = Settling.from_state(codec.loads(codec.dumps(s.state_dict())))
    restored.observe(np.ones(19), np.arange(4, 23))
    assert restored.ready() == 3 and s.ready() is None


@pytest.mark.parametrize("kwargs, message", [
    ({"half": 0}, "half must be an integer >= 1"),
    ({"rise_z": -1.0}, "rise_z must be a number >= 0"),
    ({"half": 100, "patience": 150}, "patience must be at least 2 * half = 200"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        Settling(**kwargs)


def test_losses_and_times_must_match():
    with pytest.raises(ValueError, match="losses and ts must have the same length"):
        Settling().observe([0.0, 1.0], [1])


def test_locate_rise_finds_the_step():
    rng = np.random.default_rng(5)
    losses = np.r_[rng.random(600) < 0.1, rng.random(300) < 0.5].astype(float)
    assert abs(locate_rise(losses) - 600) <= 20
    assert locate_rise(np.zeros(50)) is None  # too few on either side


def test_worse_over_the_newest_losses_tells_a_drift_that_passed():
    rng = np.random.default_rng(6)
    s = found_after(rng, 0.1, half=250)
    s.observe(rng.random(1500) < 0.3, np.arange(3000, 4500))  # the drift ...
    s.observe(rng.random(1000) < 0.1, np.arange(4500, 5500))  # ... and back
    assert s.worse(z=3.0)  # all the losses since it: still above
    assert not s.worse(z=3.0, newest=500)  # the newest: back where they were


def test_a_second_detection_keeps_the_losses_before_the_first_as_the_baseline():
    rng = np.random.default_rng(7)
    s = found_after(rng, 0.1)
    s.observe(rng.random(2000) < 0.3, np.arange(3000, 5000))
    s.start(since_ts=4899)  # found again, unanswered, with losses after it held
    n, total, _ = s._before
    assert n == 3000 and abs(total / n - 0.1) < 0.02


def test_above_tells_whether_the_errors_rose_again_since_an_earlier_look():
    rng = np.random.default_rng(4)
    s = Settling(half=100, rise_z=1.0, patience=1000)
    s.observe(rng.random(200) < 0.2, np.arange(200))
    then = s.level()
    assert then[0] == 200 and then[1] == then[2]  # 0/1 losses: the sum of squares is the sum
    s.observe(rng.random(200) < 0.2, np.arange(200, 400))
    assert not s.above(then, z=3.0)  # the same level
    s.observe(rng.random(200) < 0.5, np.arange(400, 600))
    assert s.above(then, z=3.0)  # risen again
    assert not Settling(half=100, patience=1000).above(then, z=3.0)  # nothing held yet

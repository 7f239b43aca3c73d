"""AccuracyDrop: calibrated bound, detection, baseline handling, missing labels, input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftline.detectors import AccuracyDrop
from tests.detectors.cases import feed as feed_batches


def feed(det, x, batch=300):
    return feed_batches(det, x, batch)


def binomial_below(m: int, p: float, bound: float) -> float:
    """Exact P(Binomial(m, p) / m < bound)."""
    return sum(math.exp(math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1)
                        + k * math.log(p) + (m - k) * math.log1p(-p))
               for k in range(math.ceil(bound * m)))


@pytest.mark.parametrize("p", [0.5, 0.8, 0.9, 0.97, 0.99])
def test_bound_keeps_its_confidence_for_a_given_baseline(p):
    det = AccuracyDrop(window=500, baseline=p, confidence=0.999999)
    # Exact binomial tail; the arcsine bound stays near the promised 1e-6
    # (within the lattice's rounding) where the plain normal bound gives up to 6e-5.
    assert binomial_below(500, p, det.lower_bound(1e-6)) < 1.5e-6


def test_a_drop_from_0_9_to_0_6_is_found_within_two_windows():
    for seed in range(10):
        rng = np.random.default_rng(seed)
        start = 2000 + 50 * seed
        found = feed(AccuracyDrop(), np.r_[rng.random(start) < 0.9, rng.random(2000) < 0.6])
        assert found
        at, d = found[0]
        assert start <= at <= start + 1000
        assert d.value < d.threshold < 0.9
        # A window that straddles the change may only be a warning; one after it is not.
        assert all(d.severity == "critical" for i, d in found if i >= start + 1000)


def test_stationary_stream_raises_no_alarm():
    rng = np.random.default_rng(11)
    assert feed(AccuracyDrop(), rng.random(200_000) < 0.9, batch=10_000) == []
    assert feed(AccuracyDrop(baseline=0.9), rng.random(200_000) < 0.9, batch=10_000) == []


def test_baseline_is_measured_on_the_first_window_unless_given():
    rng = np.random.default_rng(4)
    det = AccuracyDrop(window=100)
    assert det.reference_accuracy is None
    det.update(rng.random(99) < 0.8)
    assert det.reference_accuracy is None and det.checked == []
    det.update([1])
    assert det.reference_accuracy is not None and det.checked == []
    det.update(rng.random(100) < 0.8)
    assert det.checked == [("performance", "accuracy", None)]
    det.reset()
    assert det.reference_accuracy is None
    given = AccuracyDrop(window=100, baseline=0.8)
    given.update(rng.random(100) < 0.8)
    assert given.checked == [("performance", "accuracy", None)]
    # A measured baseline is itself uncertain, so its bound is wider.
    measured = AccuracyDrop(window=100)
    measured.update(np.r_[np.ones(80), np.zeros(20)])
    assert measured.reference_accuracy == given.reference_accuracy == 0.8
    assert given.lower_bound(1e-3) > measured.lower_bound(1e-3)


def test_unknown_labels_are_skipped():
    x = np.r_[np.ones(500), np.zeros(500)]
    gaps = np.full(2000, np.nan)
    gaps[1::2] = x
    det = AccuracyDrop(window=500, baseline=0.9)
    det.update(gaps)
    (d,) = det.detections
    assert d.batch_index == 1999 and d.value == 0.0
    assert det.n_seen == 2000


@pytest.mark.parametrize(("bad", "match"), [
    (np.ones((10, 1)), "1-D"),
    (np.array([1, 0, -1]), "got -1.0 at position 2"),
])
def test_bad_input_is_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        AccuracyDrop().update(bad)


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="baseline"):
        AccuracyDrop(baseline=1.2)
    with pytest.raises(ValueError, match="confidence"):
        AccuracyDrop(confidence=1.0)
    with pytest.raises(ValueError, match="window"):
        AccuracyDrop(window=0)

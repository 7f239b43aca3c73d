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


def binomial_pmf(n: int, p: float) -> np.ndarray:
    k = np.arange(n + 1)
    lg = np.vectorize(math.lgamma)
    return np.exp(lg(n + 1) - lg(k + 1) - lg(n - k + 1) + k * math.log(p) + (n - k) * math.log1p(-p))


def test_stationary_stream_stays_within_the_rate():
    # Default: 1e-6 per labelled item, so about one false alarm in 10^6 items.
    rng = np.random.default_rng(11)
    assert len(feed(AccuracyDrop(), rng.random(1_000_000) < 0.9, batch=100_000)) <= 4
    assert len(feed(AccuracyDrop(baseline=0.9), rng.random(1_000_000) < 0.9, batch=100_000)) <= 4


def test_alpha_comes_from_the_per_item_rate_or_the_older_confidence():
    assert AccuracyDrop(window=500).alpha == pytest.approx(5e-4)
    assert AccuracyDrop(window=200, false_alarm_rate=1e-5).alpha == pytest.approx(2e-3)
    assert AccuracyDrop(window=500, confidence=0.999).alpha == pytest.approx(1e-3)
    # The monitor's call keeps working.
    assert AccuracyDrop(window=250).false_alarm_rate is None
    with pytest.raises(ValueError, match="not both"):
        AccuracyDrop(confidence=0.999, false_alarm_rate=1e-6)


@pytest.mark.parametrize("p", [0.7, 0.9, 0.97])
def test_a_baseline_measured_on_a_few_hundred_rows_keeps_the_rate(p):
    # The gate measured the baseline on 300 holdout rows: averaged over the
    # baselines it could have measured, a window's exact false-alarm
    # probability is alpha (within the lattice's rounding).
    window, n, alpha = 500, 300, 5e-4
    baselines = np.arange(n + 1) / n
    weights = binomial_pmf(n, p)
    window_cdf = np.cumsum(binomial_pmf(window, p))

    def false_alarms(baseline_n):
        total = 0.0
        for b, w in zip(baselines, weights):
            if w < 1e-15 or b in (0.0, 1.0):
                continue
            bound = AccuracyDrop(window=window, baseline=float(b), baseline_n=baseline_n).lower_bound(alpha)
            k = math.ceil(bound * window) - 1  # accuracies strictly below the bound
            total += w * (window_cdf[k] if k >= 0 else 0.0)
        return total

    assert 0.3 * alpha < false_alarms(n) < 1.5 * alpha
    # Taking the measured baseline as exact alarms several times too often.
    assert false_alarms(None) > 4 * alpha


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
    with pytest.raises(ValueError, match="baseline_n needs a baseline"):
        AccuracyDrop(baseline_n=300)
    with pytest.raises(ValueError, match="baseline_n"):
        AccuracyDrop(baseline=0.9, baseline_n=0)
    with pytest.raises(ValueError, match="false_alarm_rate"):
        AccuracyDrop(window=500, false_alarm_rate=0.01)

"""ErrorRateDrift: rises found fast, falls and noise ignored, missing labels skipped, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors import ErrorRateDrift
from driftline.detectors.predictions.error_rate import locate_rise
from tests.detectors.cases import feed as feed_batches


def feed(det, x, batch=250):
    return feed_batches(det, x, batch)


def test_a_jump_from_0_2_to_0_5_is_found_within_a_few_hundred_events():
    for seed in range(10):
        rng = np.random.default_rng(seed)
        x = np.r_[rng.random(5000) < 0.2, rng.random(2000) < 0.5]
        found = feed(ErrorRateDrift(), x)
        assert found, f"seed {seed}: missed"
        at, d = found[0]
        assert 5000 <= at <= 5300
        assert d.threshold == pytest.approx(0.2, abs=0.03)
        assert d.value > 0.35 and d.feature is None
        assert "rose from" in d.message


def test_a_fall_in_the_error_rate_is_not_reported():
    rng = np.random.default_rng(1)
    det = ErrorRateDrift()
    assert feed(det, np.r_[rng.random(5000) < 0.5, rng.random(5000) < 0.2]) == []
    assert det.error_rate == pytest.approx(0.2, abs=0.05), "yet ADWIN did adapt"


def test_stationary_stream_raises_no_alarm():
    rng = np.random.default_rng(2)
    det = ErrorRateDrift()
    assert feed(det, rng.random(200_000) < 0.2, batch=20_000) == []
    assert len(det.checked) == 20_000 // 32  # one entry per ADWIN check


def test_unknown_outcomes_are_skipped_and_positions_kept():
    rng = np.random.default_rng(3)
    x = np.r_[rng.random(3000) < 0.1, rng.random(1000) < 0.7].astype(float)
    gaps = np.full(len(x) * 2, np.nan)
    gaps[::2] = x  # every other outcome unknown
    det = ErrorRateDrift()
    det.update(gaps)
    (d,) = det.detections[:1]
    assert not np.isnan(gaps[d.batch_index]) and d.batch_index >= 6000
    twin = ErrorRateDrift()
    twin.update(x)
    assert twin.detections[0].value == d.value
    assert det.n_seen == len(gaps)


def test_locate_rise_finds_the_change_point():
    window = np.r_[np.zeros(800), np.ones(200)]
    window[::10] = 1  # some errors before, too
    n_new, new_rate, n_old, old_rate = locate_rise(window[-500:], len(window), window.sum())
    assert n_new == 200 and new_rate == 1.0 and old_rate == pytest.approx(0.1)
    assert locate_rise(1 - window[-500:], len(window), (1 - window).sum()) is None


@pytest.mark.parametrize(("bad", "match"), [
    (np.zeros((3, 2)), "1-D"),
    (np.array([0, 1, 2]), "got 2.0 at position 2"),
    (np.array(["x"]), "0 and 1"),
])
def test_bad_input_is_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        ErrorRateDrift().update(bad)


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="delta"):
        ErrorRateDrift(delta=0)
    with pytest.raises(ValueError, match="min_samples"):
        ErrorRateDrift(min_samples=0)

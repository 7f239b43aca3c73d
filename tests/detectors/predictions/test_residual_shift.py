"""ResidualShift: growing errors found fast (bias or spread), shrinking ones ignored, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors import ResidualShift
from tests.detectors.cases import feed


def test_a_bias_either_way_and_a_wider_spread_are_found_within_a_few_hundred_residuals():
    for seed in range(6):
        rng = np.random.default_rng(seed)
        for name, after in (("up", 1.0 + rng.normal(size=2000)), ("down", rng.normal(size=2000) - 1.0),
                            ("spread", 2.0 * rng.normal(size=2000))):
            found = feed(ResidualShift(), np.r_[rng.normal(size=3000), after])
            assert found, f"seed {seed}: missed {name}"
            at, d = found[0]
            assert 3000 <= at <= 3300, (seed, name, at)
            assert d.kind == "concept_drift" and d.feature is None and d.value > d.threshold
            what = "absolute residual" if name == "spread" else "bias"
            assert what in d.message


def test_stationary_residuals_raise_no_alarm():
    rng = np.random.default_rng(1)
    for draw in (rng.normal, rng.laplace, lambda size: rng.standard_t(5, size=size)):
        det = ResidualShift(false_alarm_rate=1e-7)  # 0.02 false alarms expected per stream
        assert feed(det, draw(size=200_000), batch=20_000) == []
        assert det.checked == [("concept_drift", "residual", None)]


def test_errors_that_shrink_are_not_reported():
    rng = np.random.default_rng(2)
    # The spread halves, then a bias of the reference goes away.
    x = np.r_[rng.normal(size=3000), 0.5 * rng.normal(size=3000)]
    assert feed(ResidualShift(), x) == []
    x = np.r_[1.0 + rng.normal(size=3000), rng.normal(size=3000)]
    assert feed(ResidualShift(), x) == []
    # ... while a bias of the same size the other way, away from zero, is.
    x = np.r_[1.0 + rng.normal(size=3000), 2.0 + rng.normal(size=3000)]
    assert feed(ResidualShift(), x)


def test_unknown_residuals_are_skipped_and_positions_kept():
    rng = np.random.default_rng(3)
    r = np.r_[rng.normal(size=3000), 1.5 + rng.normal(size=1000)]
    gaps = np.full(2 * len(r), np.nan)
    gaps[::2] = r
    det, twin = ResidualShift(), ResidualShift()
    det.update(gaps)
    twin.update(r)
    d, t = det.detections[0], twin.detections[0]
    assert d.batch_index == 2 * t.batch_index and d.message == t.message
    assert det.n_seen == len(gaps)


@pytest.mark.parametrize(("bad", "match"), [
    (np.zeros((3, 2)), "1-D"),
    (np.array(["x"]), "numbers"),
    (np.array([0.0, np.inf]), "finite"),
])
def test_bad_input_is_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        ResidualShift().update(bad)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"shift": 0}, "shift"),
    ({"clip": 0.1}, "clip"),
    ({"reference_size": 5}, "reference_size"),
    ({"false_alarm_rate": 0}, "false_alarm_rate"),
])
def test_bad_parameters_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResidualShift(**kwargs)

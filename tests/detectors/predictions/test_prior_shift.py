"""PriorShift: class shares moving either way are found fast; noise, missing labels and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors import PriorShift
from driftline.detectors.predictions.prior_shift import _delta
from tests.detectors.cases import feed


def labels(rng, p, n, names=("a", "b", "c")):
    return np.array(names[:len(p)], dtype=object)[rng.choice(len(p), p=p, size=n)]


def test_a_rise_and_a_fall_of_a_class_share_are_both_found_within_a_few_hundred_rows():
    for seed in range(8):
        rng = np.random.default_rng(seed)
        for after in ([0.3, 0.7], [0.7, 0.3]):
            found = feed(PriorShift(), np.r_[labels(rng, [0.5, 0.5], 4000), labels(rng, after, 2000)])
            assert found, f"seed {seed}: missed 0.5 -> {after}"
            at, d = found[0]
            assert 4000 <= at <= 4400
            assert d.feature == "<prediction>" and d.threshold == pytest.approx(0.5, abs=0.05)
            assert abs(d.value - 0.5) > 0.1 and ("rose" in d.message) == (d.value > d.threshold)


def test_stationary_labels_raise_no_alarm_and_each_update_is_one_check_per_column():
    rng = np.random.default_rng(1)
    det = PriorShift(["x", "y"], false_alarm_rate=1e-7)  # 0.02 false alarms expected
    X = np.column_stack([labels(rng, [0.5, 0.3, 0.2], 200_000), labels(rng, [0.9, 0.1], 200_000)])
    assert feed(det, X, batch=20_000) == []
    assert det.classes == {"x": ["a", "b"], "y": ["a"]}
    assert det.checked == [("data_drift", "prior", "x"), ("data_drift", "prior", "y")]


def test_only_the_column_that_moved_is_reported():
    rng = np.random.default_rng(8)
    X = np.column_stack([labels(rng, [0.5, 0.5], 5000), labels(rng, [0.5, 0.5], 5000)])
    X[3000:, 1] = labels(rng, [0.2, 0.8], 2000)
    found = feed(PriorShift(["x", "y"]), X)
    assert found and {d.feature for _, d in found} == {"y"} and 3000 <= found[0][0] <= 3200


def test_classes_are_the_frequent_ones_and_a_binary_column_needs_one_test():
    rng = np.random.default_rng(2)
    det = PriorShift(["x"], min_share=0.05, max_classes=3, reference_size=2000)
    det.update(labels(rng, [0.45, 0.3, 0.2, 0.04, 0.01], 2000, names=("a", "b", "c", "d", "e")))
    assert det.classes == {"x": ["a", "b", "c"]}  # d and e under min_share; at most 3
    binary = PriorShift(["x"], reference_size=100)
    binary.update(labels(rng, [0.3, 0.7], 100))
    assert binary.classes == {"x": ["b"]}
    # Bonferroni: the columns share the rate, then each column's classes.
    assert det.delta == {"x": pytest.approx(_delta(det.false_alarm_rate / 3, 1))}
    two = PriorShift(["x", "y"], reference_size=100)
    two.update(np.column_stack([labels(rng, [0.3, 0.7], 100)] * 2))
    assert two.delta["x"] == two.delta["y"] == pytest.approx(_delta(two.false_alarm_rate / 2, 1))
    assert _delta(1e-7, 1) < _delta(1e-6, 1) < 0.01


def test_a_new_class_taking_a_large_share_shows_as_the_tracked_ones_falling():
    rng = np.random.default_rng(3)
    x = np.r_[labels(rng, [0.5, 0.5], 3000), labels(rng, [0.3, 0.3, 0.4], 2000)]
    (at, d), *_ = feed(PriorShift(), x)
    assert 3000 <= at <= 3300 and d.value < d.threshold


def test_no_test_runs_during_the_warm_up_and_its_labels_start_the_window():
    rng = np.random.default_rng(4)
    det = PriorShift(reference_size=1000)
    det.update(labels(rng, [0.5, 0.5], 999))
    assert det.classes == {"<prediction>": None} and det.checked == []
    assert det.delta == {"<prediction>": None}
    # A change right after the warm-up is found as fast as a later one.
    found = feed(det, np.r_[labels(rng, [0.5, 0.5], 1), labels(rng, [0.1, 0.9], 1000)])
    assert found and found[0][0] < 150


def test_missing_labels_are_skipped_and_positions_kept():
    rng = np.random.default_rng(5)
    x = np.r_[labels(rng, [0.5, 0.5], 3000), labels(rng, [0.2, 0.8], 1000)]
    gaps = np.full(2 * len(x), None, dtype=object)
    gaps[::2] = x
    gaps[1::4] = np.nan  # NaN is missing too
    det, twin = PriorShift(), PriorShift()
    det.update(gaps)
    twin.update(x)
    d, t = det.detections[0], twin.detections[0]
    assert gaps[d.batch_index] is not None and d.batch_index == 2 * t.batch_index
    assert (d.value, d.threshold) == (t.value, t.threshold) and det.n_seen == len(gaps)


def test_a_reference_sets_the_classes_and_starts_the_windows():
    rng = np.random.default_rng(6)
    det = PriorShift()
    det.set_reference(labels(rng, [0.2, 0.8], 1000)[:, None])
    assert det.classes == {"<prediction>": ["b"]}
    det.update(labels(rng, [0.5, 0.5], 400))  # no warm-up: compared with the reference at once
    assert det.drift_detected and det.detections[0].threshold == pytest.approx(0.8, abs=0.05)
    with pytest.raises(ValueError, match="no known label of '<prediction>'"):
        det.set_reference(np.array([None, None], dtype=object))
    with pytest.raises(ValueError, match="calibration"):
        det.set_reference(labels(rng, [0.5, 0.5], 100), calibration={"x": 1})


def test_a_state_dict_restored_with_another_river_fails_clearly():
    rng = np.random.default_rng(7)
    det = PriorShift(reference_size=100)
    det.update(labels(rng, [0.5, 0.5], 300))
    state = det.state_dict()
    state["state"]["_adwins"]["windows"][0][0] = b"not a window"
    with pytest.raises(ValueError, match="cannot be restored"):
        PriorShift(reference_size=100).load_state_dict(state)


@pytest.mark.parametrize("bad", [np.zeros((3, 2), dtype=object), np.zeros((2, 2, 2))])
def test_batches_of_the_wrong_shape_are_rejected(bad):
    with pytest.raises(ValueError, match="shape"):
        PriorShift().update(bad)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"features": "<prediction>"}, "features"),
    ({"features": []}, "features"),
    ({"reference_size": 0}, "reference_size"),
    ({"min_share": 0.5}, "min_share"),
    ({"min_share": True}, "min_share"),
    ({"max_classes": 0}, "max_classes"),
    ({"false_alarm_rate": 0.0}, "false_alarm_rate"),
    ({"false_alarm_rate": 1e-3}, "false_alarm_rate"),
])
def test_bad_parameters_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PriorShift(**kwargs)

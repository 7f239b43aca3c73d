"""ClassErrorDrift: each predicted class's errors on their own, and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors import ClassErrorDrift
from driftline.detectors.predictions.class_error import error_pairs as pairs


def test_the_rise_is_found_in_the_class_it_happens_in_and_placed_there():
    rng = np.random.default_rng(2)
    det = ClassErrorDrift()
    classes = rng.choice(["cat", "dog", "eel"], size=9000)
    rate = np.where((classes == "eel") & (np.arange(9000) >= 6000), 0.4, 0.1)
    det.update(pairs((rng.random(9000) < rate).astype(float), classes))
    [found] = det.detections
    assert found.message.startswith("among predictions of eel: error rate rose")
    assert 6000 <= found.batch_index < 6600 and classes[found.batch_index] == "eel"
    assert found.threshold < 0.15 < 0.3 < found.value


def test_classes_beyond_the_limit_share_one_stream():
    det = ClassErrorDrift(max_classes=2)
    det.update(pairs(np.zeros(5), ["a", "b", "c", "d", 1]))
    assert sorted(det.state_dict()["state"]["_by_class"]) == ["<other>", "a", "b"]


def test_unknown_outcomes_are_skipped_and_counted_as_seen():
    det = ClassErrorDrift()
    det.update(pairs([np.nan, None, 1.0, 0.0] * 16, ["a"] * 64))
    assert det.n_seen == 64 and len(det.checked) == 1  # one check per 32 known outcomes


@pytest.mark.parametrize(("batch", "message"), [
    (pairs([2.0], ["a"]), "errors must be 0 or 1"),
    (pairs(["wrong"], ["a"]), "the first column holds errors"),
    (np.zeros(3), r"an \(n, 2\) array of \(error, predicted class\) pairs, got shape \(3,\)"),
])
def test_bad_batches_get_a_clear_error(batch, message):
    with pytest.raises(ValueError, match=message):
        ClassErrorDrift().update(batch)

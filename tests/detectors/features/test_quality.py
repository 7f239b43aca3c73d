"""DataQuality: codes, one rate and threshold per kind, binomial support, the reference helpers."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from driftline.detectors import DataQuality
from driftline.detectors.features.quality import (
    MISSING, NON_FINITE, OK, OUT_OF_RANGE, PROBLEMS, UNSEEN_CATEGORY, WRONG_TYPE,
    binomial_min_count, category_codes, numeric_codes, numeric_ranges,
)
from tests.detectors.cases import feed


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) >= k), in exact rational arithmetic."""
    q = Fraction(str(p))
    return float(sum(math.comb(n, i) * q ** i * (1 - q) ** (n - i) for i in range(k, n + 1)))


def test_codes_keep_their_values():
    # consumers/monitor.py builds the first three; new ones only come after them.
    assert (OK, MISSING, WRONG_TYPE, OUT_OF_RANGE, UNSEEN_CATEGORY, NON_FINITE) == (0, 1, 2, 3, 4, 5)
    assert PROBLEMS == {"invalid": (MISSING, WRONG_TYPE), "out_of_range": (OUT_OF_RANGE,),
                        "unseen_category": (UNSEEN_CATEGORY,), "non_finite": (NON_FINITE,)}


@pytest.mark.parametrize(("n", "p", "alpha"), [(500, 0.05, 1e-5), (100, 0.01, 1e-3), (2000, 0.2, 1e-7)])
def test_min_count_is_the_exact_binomial_bound(n, p, alpha):
    k = binomial_min_count(n, p, alpha)
    assert binomial_sf(k, n, p) <= alpha < binomial_sf(k - 1, n, p)


def test_each_kind_has_its_own_rate_and_threshold():
    det = DataQuality(["a", "b"], window=500, max_rate=0.05, max_rates={"out_of_range": 0.01})
    assert det.threshold("out_of_range") == 0.01 and det.threshold("invalid") == 0.05
    codes = np.zeros((500, 2), dtype=np.int8)
    codes[:15, 0] = MISSING       # 3% and
    codes[15:30, 0] = WRONG_TYPE  # 3%: 6% invalid is over 5%, but within noise
    codes[30:55, 0] = NON_FINITE  # 5% against 5%, likewise
    codes[:40, 1] = OUT_OF_RANGE  # 8% against 1%
    det.update(codes)
    (d,) = det.detections
    assert (d.feature, d.value, d.threshold) == ("b", 0.08, 0.01)
    assert "out_of_range" in d.message and d.severity == "critical"
    assert det.checked == [("data_quality", "quality", "a"), ("data_quality", "quality", "b")]


def test_the_worst_kind_leads_and_the_message_lists_all():
    det = DataQuality(["a"], window=200, max_rate=0.05)
    codes = np.zeros((200, 1), dtype=np.int8)
    codes[:60] = NON_FINITE
    codes[60:100] = UNSEEN_CATEGORY
    det.update(codes)
    (d,) = det.detections
    assert d.value == 0.3 and d.message.startswith("a: 30.0% of the last 200 values are non_finite")
    assert d.message.endswith("; unseen_category 20.0%)")


def test_rates_at_the_threshold_alarm_at_most_alpha():
    # alpha = 1e-3 * 100 / 4 = 0.025 per kind and window; every kind at 5%.
    det = DataQuality(["a"], window=100, max_rate=0.05, false_alarm_rate=1e-3)
    rng = np.random.default_rng(0)
    codes = rng.choice(6, p=[0.8, 0.025, 0.025, 0.05, 0.05, 0.05], size=(200_000, 1)).astype(np.int8)
    windows = 2000
    alarms = len(feed(det, codes, batch=10_000))
    # At most one alarm per window, each kind at most alpha (less: the binomial is a lattice).
    assert 0 < alarms <= 4 * det.alpha * windows
    below = DataQuality(["a"], window=100, max_rate=0.10, false_alarm_rate=1e-3)
    assert feed(below, codes, batch=10_000) == []


def test_the_monitors_call_still_works():
    det = DataQuality(["x", "y"], window=250)
    codes = np.zeros((250, 2), dtype=np.int8)
    codes[:, 1] = MISSING
    det.update(codes)
    assert [d.feature for d in det.detections] == ["y"]


def test_numeric_ranges_and_codes():
    ref = np.array([[0.0, -5.0], [10.0, 5.0], [np.nan, 0.0]])
    ranges = numeric_ranges(ref, margin=0.1)
    assert ranges == [[-1.0, 11.0], [-6.0, 6.0]]
    X = np.array([[11.5, 0.0], [np.nan, -np.inf], [5.0, 7.0], [np.nan, 1.0]])
    known = np.array([[0, 0], [0, 0], [0, 0], [MISSING, WRONG_TYPE]])
    assert numeric_codes(X, ranges, known).tolist() == [[3, 0], [5, 5], [0, 3], [1, 2]]
    assert numeric_ranges(np.full((3, 1), np.nan)) == [[-math.inf, math.inf]]
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        numeric_codes(np.zeros((2, 3)), ranges)


def test_category_codes():
    C = np.array([["NL", None], ["BE", "x"], ["DE", "y"]], dtype=object)
    codes = category_codes(C, [["NL", "DE"], ["x"]], np.array([[0, 1], [0, 0], [0, 2]]))
    assert codes.tolist() == [[0, 1], [4, 0], [0, 2]]
    with pytest.raises(ValueError, match=r"shape \(n, 1\)"):
        category_codes(C, [["NL"]])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_rate": 0.0}, "max_rate"),
    ({"max_rate": 1.0}, "max_rate"),
    ({"max_rates": {"late": 0.1}}, "max_rates must map"),
    ({"max_rates": {"invalid": 2.0}}, r"max_rates\['invalid'\]"),
    ({"max_rates": {"missing": 0.1}}, "max_rates must map"),
    ({"false_alarm_rate": 0.1}, "false_alarm_rate"),
    ({"window": 0}, "window"),
])
def test_bad_parameters_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataQuality(["a", "b"], **kwargs)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        DataQuality(["a", "b"]).update(np.zeros((3, 3), dtype=np.int8))
    with pytest.raises(ValueError, match="problem must be"):
        DataQuality(["a"]).threshold("late")

"""river's binary detectors behind the contract: rises only, calibrated defaults, state, checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from river import __version__ as river_version

from driftline.detectors import DDMDrift, EDDMDrift, FHDDMDrift, HDDMADrift, HDDMWDrift
from tests.detectors.cases import feed

ALL = [DDMDrift, EDDMDrift, HDDMADrift, HDDMWDrift, FHDDMDrift]
USABLE = [DDMDrift, HDDMADrift, HDDMWDrift, FHDDMDrift]  # EDDM: see its docstring


@pytest.mark.parametrize("cls", ALL)
def test_stationary_streams_raise_no_alarm(cls):
    rng = np.random.default_rng(3)
    for p in (0.05, 0.3):
        assert feed(cls(), rng.random(100_000) < p, batch=20_000) == []


@pytest.mark.parametrize("cls", USABLE)
def test_a_rise_from_0_2_to_0_5_is_found(cls):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        found = feed(cls(), np.r_[rng.random(5000) < 0.2, rng.random(3000) < 0.5], batch=700)
        assert found, f"seed {seed}"
        at, d = found[0]
        assert 5000 <= at < 6500
        assert d.detector == cls.name and d.value > d.threshold
        assert f"{cls.name}: error rate rose from" in d.message


def test_eddm_within_budget_finds_only_large_rises():
    rng = np.random.default_rng(1)
    assert feed(EDDMDrift(), np.r_[rng.random(5000) < 0.2, rng.random(5000) < 0.5]) == []
    found = feed(EDDMDrift(), np.r_[rng.random(5000) < 0.05, rng.random(5000) < 0.7])
    assert found and found[0][0] >= 5000


@pytest.mark.parametrize("cls", ALL)
def test_a_fall_of_the_error_rate_is_not_reported(cls):
    rng = np.random.default_rng(4)
    assert feed(cls(), np.r_[rng.random(5000) < 0.5, rng.random(5000) < 0.05]) == []


def test_fhddm_watches_accuracy():
    # river's FHDDM fires when the mean it is fed drops; it is fed 1 - error.
    assert FHDDMDrift._watches_accuracy
    rng = np.random.default_rng(5)
    found = feed(FHDDMDrift(), np.r_[rng.random(3000) < 0.1, rng.random(2000) < 0.6])
    assert found and 3000 <= found[0][0] < 3600


def test_unknown_outcomes_are_skipped():
    rng = np.random.default_rng(6)
    x = np.r_[rng.random(4000) < 0.1, rng.random(2000) < 0.8].astype(float)
    gaps = np.full(2 * len(x), np.nan)
    gaps[::2] = x
    dense, sparse = HDDMADrift(), HDDMADrift()
    dense.update(x)
    sparse.update(gaps)
    assert [2 * d.batch_index for d in dense.detections] == [d.batch_index for d in sparse.detections]
    assert sparse.n_seen == len(gaps) and dense.checked == sparse.checked


def test_checked_once_per_32_known_items():
    det = DDMDrift()
    det.update(np.zeros(100))
    assert det.checked == [("concept_drift", "ddm", None)] * 3


def test_state_holds_river_objects_as_plain_data_with_the_version():
    det = HDDMWDrift()
    det.update(np.random.default_rng(7).random(1000) < 0.2)
    state = det.state_dict()
    saved = state["state"]["_river"]
    assert saved["river"] == river_version and saved["detector"]["object"] == "HDDMW"
    assert json.loads(json.dumps(saved, default=lambda b: b.hex()))  # no objects left
    fhddm = FHDDMDrift()
    fhddm.update(np.zeros(600))
    assert fhddm.state_dict()["state"]["_river"]["detector"]["attrs"]["_sliding_window"]["maxlen"] == 500
    bad = {**state, "state": {**state["state"], "_river": {"river": "0.0", "detector": {"object": "os"}}}}
    with pytest.raises(ValueError, match="saved with river 0.0 cannot be restored"):
        det.clone().load_state_dict(bad)
    other = {**state, "state": {**state["state"], "_river": {"river": river_version, "detector": 1}}}
    with pytest.raises(ValueError, match="holds a int"):
        det.clone().load_state_dict(other)


@pytest.mark.parametrize("cls", ALL)
def test_false_alarm_rate_below_the_measured_one_is_refused(cls):
    assert cls(false_alarm_rate=1e-4).false_alarm_rate == 1e-4
    with pytest.raises(ValueError, match="measured at 1e-06"):
        cls(false_alarm_rate=1e-7)


@pytest.mark.parametrize(("make", "match"), [
    (lambda: DDMDrift(drift_threshold=0), "drift_threshold"),
    (lambda: DDMDrift(warm_start=0), "warm_start"),
    (lambda: EDDMDrift(beta=1.0), "beta"),
    (lambda: HDDMADrift(drift_confidence=1.5), "drift_confidence"),
    (lambda: HDDMWDrift(lambda_val=0), "lambda_val"),
    (lambda: FHDDMDrift(sliding_window_size=2.5), "sliding_window_size"),
    (lambda: FHDDMDrift(confidence_level=True), "confidence_level"),
])
def test_bad_parameters_are_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="got 2.0 at position 1"):
        DDMDrift().update([0, 2])

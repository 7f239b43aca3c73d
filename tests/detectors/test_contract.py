"""The contract every detector keeps, checked against every exported detector."""

from __future__ import annotations

import copy
import inspect
import pickle

import numpy as np
import pytest

import driftline.detectors as detectors
from driftline.contract import ALERT_KINDS, SEVERITIES
from driftline.detectors import Detector

from tests.detectors.cases import CASES, Case

DETECTORS = sorted(
    (obj for obj in vars(detectors).values()
     if inspect.isclass(obj) and issubclass(obj, Detector) and not inspect.isabstract(obj)),
    key=lambda cls: cls.__name__,
)


# ---------------------------------------------------------------- helpers


def outcome(det: Detector) -> tuple:
    return (det.detections, det.checked, det.n_seen, det.drift_detected)


def run(det: Detector, batches) -> list[tuple]:
    out = []
    for batch in batches:
        assert det.update(batch) is None  # read drift_detected, never the return value
        out.append(outcome(det))
    return out


def same_state(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_state, a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    return type(a) is type(b) and a == b


def is_plain(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str, bytes, np.ndarray, np.number)):
        return True
    if isinstance(value, (list, tuple)):
        return all(map(is_plain, value))
    if isinstance(value, dict):
        return all(is_plain(k) and is_plain(v) for k, v in value.items())
    return False


def halves(case: Case):
    """The batches before and after the first third of the items: mid-stream, before the change."""
    batches = case.batches()
    ends = np.cumsum([len(b) for b in batches])
    mid = int(np.searchsorted(ends, ends[-1] / 3))
    return batches[:mid], batches[mid:]


# ---------------------------------------------------------------- checks


def check_has_case(cls, case):
    assert case is not None, f"add a case for {cls.__name__} to tests/detectors/cases.py"


def check_class_attributes(cls, case):
    assert cls.kind in ALERT_KINDS
    assert isinstance(cls.name, str) and cls.name
    assert isinstance(cls.names, tuple) and cls.name in cls.names
    assert cls.__doc__ and ">>>" in cls.__doc__, "every detector documents a runnable example"


def check_detections(cls, case):
    det = case.make()
    found = 0
    for batch in case.batches():
        det.update(batch)
        assert det.drift_detected == bool(det.detections)
        checked = det.checked
        for d in det.detections:
            found += 1
            assert d.kind == cls.kind and d.detector in cls.names
            assert 0 <= d.batch_index < len(batch)
            assert d.severity in SEVERITIES
            assert np.isfinite(d.value) and np.isfinite(d.threshold)
            assert d.message and "\n" not in d.message
            assert d.key in checked, "a detection rests on a check"
        assert all(k[0] == cls.kind and k[1] in cls.names for k in checked)
    assert found, "the case's stream must contain a change the detector finds"


def check_clone(cls, case):
    det = case.make()
    first, _ = halves(case)
    run(det, first)
    clone = det.clone()
    assert type(clone) is cls and clone is not det
    assert clone._get_params() == det._get_params()
    assert same_state(clone.state_dict(), case.make().state_dict()), "a clone starts fresh"
    for name, value in det._get_params().items():
        if isinstance(value, (list, dict, set, np.ndarray)):
            assert getattr(clone, name) is not value, f"clone shares the mutable parameter {name}"


def check_pickle(cls, case):
    det = case.make()
    first, second = halves(case)
    run(det, first)
    restored = pickle.loads(pickle.dumps(det))
    assert outcome(restored) == outcome(det)
    assert run(restored, second) == run(det, second)


def check_state_dict(cls, case):
    det = case.make()
    first, second = halves(case)
    run(det, first)
    state = det.state_dict()
    assert is_plain(state), "state_dict() is plain data"
    saved = pickle.loads(pickle.dumps(state))
    other = det.clone()
    other.load_state_dict(saved)
    assert outcome(other) == outcome(det)
    expected = run(det, second)
    assert run(other, second) == expected
    # The dict is a snapshot: the detector going on did not change it.
    third = det.clone()
    third.load_state_dict(state)
    assert run(third, second) == expected


def check_load_state_dict_rejects(cls, case):
    det = case.make()
    state = det.state_dict()
    with pytest.raises(ValueError, match="cannot be loaded"):
        det.load_state_dict({**state, "detector": "SomethingElse"})
    name = next(iter(state["params"]))
    with pytest.raises(ValueError, match="other parameters"):
        det.load_state_dict({**state, "params": {**state["params"], name: "changed"}})
    with pytest.raises(ValueError, match="does not fit"):
        det.load_state_dict({**state, "state": {**state["state"], "_extra": 1}})
    with pytest.raises(ValueError):
        det.load_state_dict({"not": "a state"})


def check_reset(cls, case):
    det = case.make()
    batches = case.batches()
    expected = run(det, batches)
    det.reset()
    assert same_state(det.state_dict(), case.make().state_dict())
    assert (det.n_seen, det.detections, det.drift_detected) == (0, [], False)
    assert run(det, batches) == expected


def check_immutable_defaults(cls, case):
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.default is not p.empty:
            assert p.default is None or isinstance(p.default, (bool, int, float, str, tuple, frozenset)), \
                f"mutable default for {p.name}"
    a, b = case.make(), case.make()
    for name, value in a._get_params().items():
        if isinstance(value, (list, dict, set)):
            assert getattr(b, name) is not value, f"instances share {name}"
            # Nor does the detector keep the caller's object.
            params = a._get_params()
            before = copy.deepcopy(params[name])
            det = cls(**params)
            if isinstance(params[name], list):
                params[name].append("intruder")
            else:
                params[name].clear()
            assert getattr(det, name) == before


def check_deterministic(cls, case):
    assert run(case.make(), case.batches(7)) == run(case.make(), case.batches(7))


def check_batch_size_invariance(cls, case):
    batches = case.batches()
    det_many, det_one = case.make(), case.make()
    many, seen = [], 0
    for batch in batches:
        det_many.update(batch)
        many += [(seen + d.batch_index, d.value, d.threshold, d.severity, d.message)
                 for d in det_many.detections]
        seen += len(batch)
    det_one.update(np.concatenate(batches))
    one = [(d.batch_index, d.value, d.threshold, d.severity, d.message) for d in det_one.detections]
    assert one == many
    assert det_one.n_seen == det_many.n_seen == seen


def check_empty_batch(cls, case):
    det = case.make()
    batches = case.batches()
    run(det, batches)
    n = det.n_seen
    det.update(batches[0][:0])
    assert (det.n_seen, det.detections, det.checked, det.drift_detected) == (n, [], [], False)


def check_repr(cls, case):
    det = case.make()
    assert repr(det).startswith(f"{cls.__name__}(")
    assert "=" in repr(det)


def check_deepcopy(cls, case):
    det = case.make()
    first, second = halves(case)
    run(det, first)
    twin = copy.deepcopy(det)
    assert run(twin, second) == run(det, second)


CHECKS = [
    check_class_attributes,
    check_detections,
    check_clone,
    check_pickle,
    check_deepcopy,
    check_state_dict,
    check_load_state_dict_rejects,
    check_reset,
    check_immutable_defaults,
    check_deterministic,
    check_batch_size_invariance,
    check_empty_batch,
    check_repr,
]


def _params():
    for cls in DETECTORS:
        for check in [check_has_case] + (CHECKS if cls in CASES else []):
            yield pytest.param(cls, check, id=f"{cls.__name__}:{check.__name__}")


@pytest.mark.parametrize(("cls", "check"), list(_params()))
def test_contract(cls, check):
    check(cls, CASES.get(cls))


def test_every_detector_is_covered():
    assert {c.__name__ for c in DETECTORS} == {
        "NumericDrift", "CategoricalDrift", "ErrorRateDrift", "ClassErrorDrift", "AccuracyDrop", "DataQuality",
        "MultivariateDrift", "MeanShift", "ErrorIncrease", "PriorShift", "ResidualShift",
        "DDMDrift", "EDDMDrift", "HDDMADrift", "HDDMWDrift", "FHDDMDrift"}

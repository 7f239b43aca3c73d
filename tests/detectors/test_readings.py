"""Each detector's latest statistic and threshold, as dashboards and metrics records show them."""

from __future__ import annotations

import json

import jsonschema
import numpy as np

from driftline import contract
from driftline.consumers.monitor import ModelMonitor, MonitorConfig
from driftline.contract import Feedback, Prediction
from driftline.detectors.features.ks import NumericDrift
from driftline.detectors.suite import DriftSuite


def _stream(n: int, shift_from: int | None = None, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    if shift_from is not None:
        X[shift_from:, 0] += 2.0
    C = np.array([["NL" if i % 3 else "DE", str(i % 2)] for i in range(n)], dtype=object)
    return X, C, np.zeros((n, 4), dtype=np.int8)


def test_every_test_reports_its_statistic_and_threshold_and_a_detection_agrees():
    suite = DriftSuite(["amount", "age"], ["country", "<prediction>"])
    assert suite.readings == []  # nothing tested yet
    found, _ = suite.update_inputs(*_stream(3000, shift_from=2000))
    readings = {(d, f): (v, t) for d, f, v, t in suite.readings}
    assert {("ks", "amount"), ("ks", "age"), ("psi", "amount"), ("cusum", "age"), ("mmd", None),
            ("chi2", "country"), ("chi2", "<prediction>")} <= set(readings)
    # The shifted column is past its threshold where a detection says so, the other is not.
    ks = [d for d in found if d.detector == "ks"]
    assert ks and all(d.feature == "amount" for d in ks)
    value, threshold = readings[("ks", "amount")]
    assert value > threshold
    value, threshold = readings[("ks", "age")]
    assert value <= threshold


def test_readings_are_not_state():
    det = NumericDrift(["a"], reference_size=200, window=100)
    det.update(np.random.default_rng(1).normal(size=(400, 1)))
    assert det.readings
    state = det.state_dict()
    assert "_readings" not in state["state"]
    back = NumericDrift(["a"], reference_size=200, window=100)
    back.load_state_dict(state)
    assert back.readings == []
    assert set(back.state_dict()["state"]) == set(state["state"])


def test_a_metrics_record_carries_the_readings_and_fits_its_schema():
    monitor = ModelMonitor("fraud", MonitorConfig(metrics_every=500, reference_size=300, window=200))
    rng = np.random.default_rng(2)
    events: list = []
    for i in range(1500):
        x = float(rng.normal())
        events.append(Prediction(event_id=f"p{i}", model_id="fraud", model_version="1", ts=1_000 + i,
                                 features={"x": x, "y": float(rng.normal())}, prediction=int(x > 0)))
        events.append(Feedback(event_id=f"f{i}", prediction_id=f"p{i}", model_id="fraud",
                               ts=1_000 + i, label=int(x > 0)))
    records = []
    for i in range(0, len(events), 250):
        records += monitor.process(events[i:i + 250], 10_000).metrics
    last = records[-1]
    assert {"ks", "cusum", "chi2"} <= {d["detector"] for d in last.drift}
    assert all(d["statistic"] >= 0 and d["threshold"] > 0 for d in last.drift)
    doc = json.loads(last.encode())
    jsonschema.Draft202012Validator(contract.schema("metrics")).validate(doc)
    assert doc["drift"] == last.drift


def test_the_first_alert_of_a_drift_is_its_earliest_detection_whatever_the_batch_size():
    rng = np.random.default_rng(4)
    x = rng.normal(size=6000)
    x[2500:] += 3.0
    events = []
    for i in range(6000):
        events.append(Prediction(event_id=f"p{i}", model_id="m", model_version="1", ts=1_000 + i,
                                 features={"x": float(x[i]), "y": float(rng.normal())}, prediction=i % 2))
    firsts = []
    for batch in (100, 1000):
        monitor = ModelMonitor("m", MonitorConfig(reference_size=1000, window=500))
        alerts = []
        for i in range(0, len(events), batch):
            alerts += monitor.process(events[i:i + batch], 0).alerts
        first = min((a for a in alerts if a.feature == "x"), key=lambda a: a.event_ts)
        firsts.append((first.detector, first.event_ts))
    assert firsts[0] == firsts[1], firsts
    assert firsts[0][1] < 1_000 + 3000  # before the first window that ends after the shift

"""The suite as entries: which detectors run, at which share, switched by configuration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.detectors import HDDMWDrift
from driftline.detectors.entries import DEFAULT, ENTRIES, HEADROOM, check_detectors, parse_detectors
from driftline.detectors.suite import DriftSuite
from driftline.consumers.state.codec import dumps, loads

NUMERIC, CATEGORICAL = ["a", "b", "c"], ["country", "<prediction>"]


def rows(rng, n, shift=0.0):
    X = rng.normal(size=(n, 3))
    X[:, 0] += shift
    C = np.empty((n, 2), dtype=object)
    C[:, 0] = rng.choice(["NL", "DE"], size=n)
    C[:, 1] = rng.choice(["0", "1"], size=n)
    return X, C


@pytest.mark.parametrize("text, message", [
    ("nope", "no detector named 'nope'"),
    ("-nope", "no detector named 'nope'"),
    ("ks=lots", "detector ks: share 'lots' is not a number"),
    ("ks=0", "detector ks: share 0 is not in (0, 1]"),
    ("ks=1.5", "detector ks: share 1.5 is not in (0, 1]"),
    ("quality=0.1", "detector quality is outside the budget"),
    ("hddm_w", "detector hddm_w: give it a share of the budget (hddm_w=0.05)"),
])
def test_a_value_that_does_not_fit_is_named(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_detectors(text)


def test_the_default_spends_the_whole_budget_and_no_more():
    assert parse_detectors("") == DEFAULT
    check_detectors(DEFAULT, 1e-6)
    with pytest.raises(ValueError, match="a classifier's budget add up to 1.1, more than the whole"):
        check_detectors(parse_detectors("ks=0.3"), 1e-6)
    # The regressor's members leave room: raising one of them is fine until they pass one.
    check_detectors(parse_detectors("residual=0.3"), 1e-6)
    with pytest.raises(ValueError, match="a regressor's budget add up to 1.05"):
        check_detectors(parse_detectors("residual=0.35,-prior,-adwin"), 1e-6)


def test_rivers_detectors_run_only_at_rates_they_were_measured_at():
    spec = parse_detectors("-adwin,-adwin_class,hddm_w=0.15")
    with pytest.raises(ValueError, match="detector hddm_w: its share 0.15 of the false-alarm rate 1e-06"):
        check_detectors(spec, 1e-6)
    check_detectors(spec, 1e-5)
    with pytest.raises(ValueError, match="hddm_w"):
        DriftSuite(NUMERIC, CATEGORICAL, false_alarm_rate=1e-6, detectors=spec)


def test_a_detector_left_out_does_not_run_and_its_share_is_not_spent_elsewhere():
    full = DriftSuite(NUMERIC, CATEGORICAL)
    less = DriftSuite(NUMERIC, CATEGORICAL, detectors=parse_detectors("-mmd,-cusum"))
    assert less.multivariate is None and less.mean_shift is None
    assert [d.name for d in less.inputs] == ["ks", "chi2", "quality", "prior"]
    assert less.numeric_drift.false_alarm_rate == full.numeric_drift.false_alarm_rate
    X, C = rows(np.random.default_rng(1), 3000)
    X[2000:, 0] += 1.0
    found, _ = less.update_inputs(X, C, np.zeros((3000, 5), dtype=np.int8))
    assert {d.detector for d in found} <= {"ks", "psi", "chi2", "prior", "quality"}
    assert any(d.detector == "ks" for d in found)
    assert {r[0] for r in less.readings}.isdisjoint({"mmd", "cusum"})


def test_a_share_set_by_configuration_sets_the_detectors_rate():
    s = DriftSuite(NUMERIC, CATEGORICAL, false_alarm_rate=2e-6, detectors=parse_detectors("-mmd,ks=0.3"))
    assert s.numeric_drift.false_alarm_rate == pytest.approx(0.3 * HEADROOM * 2e-6)


def test_rivers_detector_switched_on_by_configuration_finds_a_rise_and_keeps_its_state():
    spec = parse_detectors("-adwin,-adwin_class,hddm_w=0.15")
    s = DriftSuite(NUMERIC, CATEGORICAL, false_alarm_rate=1e-5, detectors=spec)
    assert [type(d).__name__ for d in s.outcomes] == ["HDDMWDrift", "AccuracyDrop"]
    assert s.error_rate is None and s.class_errors is None
    rng = np.random.default_rng(2)
    n, change, saved_at = 12_000, 6_000, 5_000
    wrong = rng.random(n) < np.where(np.arange(n) < change, 0.1, 0.35)
    outcomes = (~wrong).astype(float)

    def feed(suite, start, stop):
        hits = []
        for at in range(start, stop, 500):
            got, _ = suite.update_outcomes(outcomes[at:at + 500])
            hits += [(at + d.batch_index, d.detector) for d in got]
        return hits

    assert not [h for h in feed(s, 0, saved_at) if h[1] == "hddm_w"]
    # The state is plain records: through the monitor's codec and back, it goes on the same.
    restored = DriftSuite.from_state(loads(dumps(s.state_dict())))
    assert restored.detectors == spec and isinstance(restored.outcomes[0], HDDMWDrift)
    live, again = feed(s, saved_at, n), feed(restored, saved_at, n)
    assert live == again
    first = min(i for i, det in live if det == "hddm_w")
    assert change <= first < change + 2_000


def test_a_restored_suite_runs_what_it_ran_and_refuses_a_member_it_does_not_have():
    s = DriftSuite(NUMERIC, CATEGORICAL, detectors=parse_detectors("-mmd"))
    state = loads(dumps(s.state_dict()))
    assert "multivariate" not in state["members"] and state["params"]["detectors"]["ks"] == 0.2
    state["members"]["multivariate"] = DriftSuite(NUMERIC, CATEGORICAL).multivariate.state_dict()
    with pytest.raises(ValueError, match="member 'multivariate' is not one of this suite's detectors"):
        DriftSuite.from_state(state)


def test_a_suite_saved_before_the_entries_goes_on_with_the_default():
    s = DriftSuite(NUMERIC, CATEGORICAL)
    state = s.state_dict()
    del state["params"]["detectors"]  # as the monitor's format-2 records hold it
    state["members"]["residual_shift"] = None
    old = DriftSuite.from_state(state)
    assert old.detectors == DEFAULT and [d.name for d in old.inputs] == [d.name for d in s.inputs]


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_every_entry_runs_alone_on_its_stream(name):
    entry = ENTRIES[name]
    numeric = NUMERIC + (["<prediction>"] if name in ("residual", "error") else [])
    categorical = CATEGORICAL if name not in ("residual", "error") else ["country"]
    spec = {name: DEFAULT.get(name, 1.0)}
    s = DriftSuite(numeric, categorical, false_alarm_rate=1e-5, detectors=spec)
    assert len(s.inputs) + len(s.outcomes) == 1
    (det,) = s.inputs + s.outcomes
    assert det.name == name
    rng = np.random.default_rng(3)
    X, C = rows(rng, 1200)
    if "<prediction>" in numeric:
        X = np.column_stack([X, rng.normal(size=1200)])
        C = C[:, :1]
    if entry.stream == "inputs":
        s.update_inputs(X, C, np.zeros((1200, X.shape[1] + C.shape[1]), dtype=np.int8))
        assert s.inputs_seen == 1200
    else:
        outcomes = rng.normal(size=1200) if s.regression else (rng.random(1200) < 0.9).astype(float)
        s.update_outcomes(outcomes, C[:, -1] if not s.regression else None)
        assert det.n_seen == 1200
    assert DriftSuite.from_state(s.state_dict()).state_dict().keys() == s.state_dict().keys()


def test_the_setting_reaches_the_monitors_suite_and_a_bad_one_is_one_line():
    from driftline.consumers.monitor import ModelMonitor, MonitorConfig
    from driftline.contract import Prediction
    from driftline.exceptions import SettingsError
    from driftline.settings import Settings

    settings = Settings.from_env({"DRIFTLINE_DETECTORS": "-mmd, -cusum"})
    config = MonitorConfig.from_settings(settings)
    assert "mmd" not in config.detectors and "cusum" not in config.detectors
    monitor = ModelMonitor("m", MonitorConfig(metrics_every=500, reference_size=300, window=200,
                                              detectors=config.detectors))
    rng = np.random.default_rng(4)
    preds = [Prediction(event_id=f"p{i}", model_id="m", model_version="1", ts=1_000 + i,
                        features={"x": float(rng.normal()), "y": float(rng.normal())}, prediction=i % 2)
             for i in range(1000)]
    records = monitor.process(preds, 10_000).metrics
    assert {"ks", "chi2"} <= {d["detector"] for d in records[-1].drift}
    assert {d["detector"] for d in records[-1].drift}.isdisjoint({"mmd", "cusum"})
    assert MonitorConfig.from_settings(Settings.from_env({})).detectors is None
    for value, message in (("-nope", "DRIFTLINE_DETECTORS: no detector named 'nope'"),
                           ("ks=0.5", "DRIFTLINE_DETECTORS: the detectors' shares of a classifier's "
                                      "budget add up to 1.3"),
                           ("-adwin,-adwin_class,hddm_w=0.1", "DRIFTLINE_DETECTORS: detector hddm_w: its share 0.1")):
        with pytest.raises(SettingsError) as info:
            Settings.from_env({"DRIFTLINE_DETECTORS": value})
        assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)

"""AlertPolicy: one alert per drift episode, recovery, cooldown, state."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from driftline.detectors import AlertPolicy, Detection, NumericDrift


def hit(feature="amount", detector="ks", kind="data_drift"):
    return Detection(kind, detector, feature, 0.3, 0.1, 0, "warning", f"{feature} moved")


def key(feature="amount", detector="ks", kind="data_drift"):
    return (kind, detector, feature)


def ep(feature="amount", kind="data_drift"):
    return (kind, feature)


def test_a_lasting_drift_is_one_alert():
    rng = np.random.default_rng(0)
    det = NumericDrift(["a", "b"], reference_size=1000, window=500)
    policy = AlertPolicy()
    X = rng.normal(size=(30_000, 2))
    X[5000:, 1] += 1.0
    alerts, raw = [], 0
    for start in range(0, len(X), 700):
        det.update(X[start:start + 700])
        raw += len(det.detections)
        alerts += policy.observe(det.detections, det.n_seen, det.checked)
    assert raw > 40 and [a.feature for a in alerts] == ["b"]
    assert policy.open_keys == [ep("b")]


def test_recovery_needs_consecutive_clean_checks():
    policy = AlertPolicy(recover_windows=3, cooldown=0)
    assert policy.observe([hit()], 100, [key()]) == [hit()]
    for n in (200, 300):
        assert policy.observe([], n, [key()]) == []
    assert policy.observe([hit()], 400, [key()]) == []  # the count starts over
    for n in (500, 600, 700):
        policy.observe([], n, [key()])
    assert policy.open_keys == []
    assert policy.observe([hit()], 800, [key()]) == [hit()]


def test_not_checked_is_not_clean():
    policy = AlertPolicy(recover_windows=1, cooldown=0)
    policy.observe([hit()], 100, [key()])
    policy.observe([], 200, [key("other")])
    assert policy.open_keys == [ep()]


def test_cooldown_counts_items_from_the_close():
    policy = AlertPolicy(recover_windows=1, cooldown=1000)
    policy.observe([hit()], 100, [key()])
    policy.observe([], 200, [key()])  # closes; may reopen from 1200
    assert policy.observe([hit()], 1199, [key()]) == []
    assert policy.observe([hit()], 1200, [key()]) == [hit()]


def test_keys_are_independent_and_one_call_opens_a_key_once():
    policy = AlertPolicy()
    detections = [hit("a"), hit("a"), hit("b"), hit(None, "adwin", "concept_drift")]
    opened = policy.observe(detections, 500, [])
    assert [d.key for d in opened] == [key("a"), key("b"), key(None, "adwin", "concept_drift")]


def test_closed_keys_are_forgotten_after_their_cooldown():
    policy = AlertPolicy(recover_windows=1, cooldown=100)
    policy.observe([hit()], 10, [key()])
    policy.observe([], 20, [key()])
    assert len(policy.state_dict()["episodes"]) == 1
    policy.observe([], 119, [key()])
    assert len(policy.state_dict()["episodes"]) == 1
    policy.observe([], 120, [key()])
    assert policy.state_dict()["episodes"] == []


def test_detectors_counting_other_items_share_a_policy():
    policy = AlertPolicy(recover_windows=1, cooldown=1000)
    labels = key(None, "adwin", "concept_drift")
    policy.observe([hit(None, "adwin", "concept_drift")], 50, [labels])
    policy.observe([], 60, [labels])  # closed; may reopen at 1060 labelled items
    policy.observe([hit("a")], 90_000, [key("a")])  # prediction rows are far ahead
    assert policy.observe([hit(None, "adwin", "concept_drift")], 100, [labels]) == []


def test_n_seen_is_required():
    with pytest.raises(TypeError, match="n_seen"):
        AlertPolicy().observe([hit()], [key()])


def test_state_dict_pickle_clone_reset():
    policy = AlertPolicy(recover_windows=2, cooldown=300)
    policy.observe([hit("a"), hit("b")], 100, [key("a"), key("b")])
    policy.observe([], 200, [key("a")])
    policy.observe([], 300, [key("a")])  # a closes, b stays open
    state = pickle.loads(pickle.dumps(policy.state_dict()))
    restored = AlertPolicy(recover_windows=2, cooldown=300)
    restored.load_state_dict(state)
    twin = pickle.loads(pickle.dumps(policy))
    for p in (policy, restored, twin):
        assert p.observe([hit("a"), hit("b")], 500, []) == []
        assert p.observe([hit("a")], 600, []) == [hit("a")]
    assert policy.clone().state_dict() == {"episodes": []}
    policy.reset()
    assert policy.open_keys == []
    with pytest.raises(ValueError, match="AlertPolicy state"):
        policy.load_state_dict({"episodes": [["too short"]]})
    with pytest.raises(ValueError, match="AlertPolicy state"):
        policy.load_state_dict({"episodes": [["data_drift", "ks", "amount", True, 0, 0]]})


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="recover_windows"):
        AlertPolicy(recover_windows=0)
    with pytest.raises(ValueError, match="cooldown"):
        AlertPolicy(cooldown=-1)


def sev(severity, feature="amount", detector="ks", kind="data_drift"):
    return Detection(kind, detector, feature, 0.3, 0.1, 0, severity, f"{feature} moved")


def test_severity_escalates_once_and_never_steps_down():
    policy = AlertPolicy(recover_windows=2, cooldown=0)
    assert policy.observe([sev("warning")], 100, [key()]) == [sev("warning")]
    assert policy.observe([sev("critical")], 200, [key()]) == [sev("critical")]
    # Flapping between levels inside the episode pages no one.
    for n in range(300, 1000, 100):
        assert policy.observe([sev("warning" if n % 200 else "critical")], n, [key()]) == []
    policy.observe([], 1000, [key()])
    policy.observe([], 1100, [key()])
    assert policy.open_keys == []
    # A new episode starts from its own severity again.
    assert policy.observe([sev("warning")], 1200, [key()]) == [sev("warning")]


def test_an_episode_that_opens_critical_does_not_escalate():
    policy = AlertPolicy()
    assert policy.observe([sev("critical"), sev("critical")], 100, [key()]) == [sev("critical")]
    assert policy.observe([sev("critical")], 200, [key()]) == []


def test_concept_drift_asks_for_retraining_once_per_episode():
    policy = AlertPolicy(recover_windows=1, cooldown=0)
    concept = key(None, "adwin", "concept_drift")
    policy.observe([hit(None, "adwin", "concept_drift")], 100, [concept])
    assert policy.retrain_keys == [ep(None, "concept_drift")]
    policy.observe([hit(None, "adwin", "concept_drift")], 200, [concept])
    assert policy.retrain_keys == []
    policy.observe([], 300, [concept, key(None, "accuracy", "performance")])  # recovered
    policy.observe([hit(None, "adwin", "concept_drift")], 400, [concept])
    assert policy.retrain_keys == [ep(None, "concept_drift")]


def test_a_change_detectors_silence_keeps_its_episode_open_until_a_reference_test_is_clean():
    policy = AlertPolicy(recover_windows=2, cooldown=0)
    concept, perf = key(None, "adwin", "concept_drift"), key(None, "accuracy", "performance")
    policy.observe([hit(None, "adwin", "concept_drift")], 100, [concept])
    # ADWIN starts over after its detection: quiet checks of it alone end nothing.
    for n in range(200, 2000, 100):
        policy.observe([], n, [concept])
    assert policy.open_keys == [ep(None, "concept_drift")] and policy.closed_keys == []
    # The accuracy test against the reference, clean twice in a row, says the errors are back.
    policy.observe([], 2100, [concept, perf])
    assert policy.closed_keys == []
    policy.observe([], 2200, [concept, perf])
    assert policy.closed_keys == [ep(None, "concept_drift")] and policy.open_keys == []
    # Likewise a CUSUM finding on a feature is answered by the windowed test of that feature.
    cusum, ks = key("amount", "cusum"), key("amount", "ks")
    policy.observe([hit("amount", "cusum")], 100, [cusum])
    policy.observe([], 200, [cusum, key("other", "ks")])
    assert policy.open_keys == [ep("amount")]
    policy.observe([], 300, [cusum, ks])
    policy.observe([], 400, [ks])
    assert policy.closed_keys == [ep("amount")]


def test_a_performance_drop_asks_once_confirmed():
    perf = key(None, "accuracy", "performance")
    policy = AlertPolicy(confirm_windows=3)
    for n, asked in [(100, []), (200, []), (300, [ep(None, "performance")]), (400, [])]:
        policy.observe([hit(None, "accuracy", "performance")], n, [perf])
        assert policy.retrain_keys == asked, n
    critical = AlertPolicy(confirm_windows=3)
    critical.observe([sev("critical", None, "accuracy", "performance")], 100, [perf])
    assert critical.retrain_keys == [ep(None, "performance")]


def test_data_drift_alone_only_warns_unless_configured():
    policy = AlertPolicy()
    assert policy.observe([hit()], 100, [key()]) == [hit()] and policy.retrain_keys == []
    assert policy.observe([sev("critical")], 200, [key()]) == [sev("critical")]
    assert policy.retrain_keys == []
    eager = AlertPolicy(retrain_on=("data_drift", "concept_drift"))
    eager.observe([hit()], 100, [key()])
    assert eager.retrain_keys == [ep()]
    with pytest.raises(ValueError, match="retrain_on"):
        AlertPolicy(retrain_on=("drift",))
    with pytest.raises(ValueError, match="retrain_on"):
        AlertPolicy(retrain_on="concept_drift")


def test_monitor_state_pickled_by_the_older_policy_still_loads():
    old = AlertPolicy()
    old.__dict__["_episodes"] = {key(): [True, 1, 0]}
    del old.__dict__["retrain_on"]
    twin = pickle.loads(pickle.dumps(old))
    assert twin.open_keys == [ep()] and twin.retrain_on == ("concept_drift", "performance")
    assert twin.observe([sev("critical")], 100, [key()]) == [sev("critical")]
    for n in (200, 300, 400):
        twin.observe([], n, [key()])
    assert twin.open_keys == []


def test_one_drift_seen_by_two_detectors_is_one_alert_until_both_recover():
    policy = AlertPolicy(recover_windows=2, cooldown=0)
    ks, cusum = key(detector="ks"), key(detector="cusum")
    assert policy.observe([hit(detector="cusum")], 100, [cusum]) == [hit(detector="cusum")]
    assert policy.observe([hit(detector="ks")], 500, [ks, cusum]) == []
    # The sequential detector has recovered; the windowed one has not yet.
    for n in (600, 700, 800):
        policy.observe([], n, [cusum])
    assert policy.open_keys == [ep()]
    policy.observe([], 1000, [ks, cusum])
    assert policy.open_keys == [ep()]
    policy.observe([], 1500, [ks, cusum])
    assert policy.open_keys == []
    # A detector that never found the drift does not close it either.
    policy.observe([hit(detector="ks")], 2000, [ks])
    for n in range(2100, 3000, 100):
        policy.observe([], n, [cusum])
    assert policy.open_keys == [ep()]

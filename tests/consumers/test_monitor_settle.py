"""The monitor asks for a retrain once a drift found on the labels has settled, from where it settled."""

from __future__ import annotations

import dataclasses

import numpy as np

from driftline.consumers.monitor import ModelMonitor
from driftline.contract import Feedback, ModelVersion, Prediction
from tests.consumers.test_monitor import CONFIG, restart, run

# Settling tells a rise from noise over a window of min_train_examples labels.
SETTLE = dataclasses.replace(CONFIG, retrain_cooldown_ms=10**9, min_train_examples=1000)


def drifting(n: int, error_rate, *, seed: int = 0):
    """Predictions of version 1, each labeled right after; ``error_rate(i)`` for event i."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = int(rng.random() < 0.5)
        pred = label if rng.random() >= error_rate(i) else 1 - label
        out.append(Prediction(f"p{i}", "m", "1", 1000 + i * 10, {"x": float(rng.normal())}, pred))
        out.append(Feedback(f"f{i}", f"p{i}", "m", 1000 + i * 10 + 5, label))
    return out


def ts(i: int) -> int:
    return 1000 + i * 10


def first_request(m: ModelMonitor, evs):
    got = run(m, evs)
    concept = [a for a in got["alerts"] if a.kind in ("concept_drift", "performance")]
    return concept, got["retrain"]


def test_an_abrupt_drift_is_asked_about_from_where_the_errors_rose():
    m = ModelMonitor("m", SETTLE)
    alerts, [request] = first_request(m, drifting(9_000, lambda i: 0.1 if i < 5_000 else 0.45))
    found = min(a.event_ts for a in alerts)
    # The window starts near where the errors rose (a look at the errors after it that
    # happens to show a rise moves it on by a batch or two).
    assert ts(4_950) <= request.since_ts <= max(found, ts(5_300))
    assert request.alert_ids and "window from event time" in request.reason


def test_a_gradual_drift_is_asked_about_once_the_errors_stop_rising():
    ramp = lambda i: float(np.clip(0.05 + 0.4 * (i - 5_000) / 2_000, 0.05, 0.45))  # noqa: E731
    m = ModelMonitor("m", SETTLE)
    alerts, requests = first_request(m, drifting(14_000, ramp))
    found = min(a.event_ts for a in alerts)
    assert found < ts(7_000)  # found early in the ramp ...
    [request] = requests
    # ... but the window starts where the errors settled, near the ramp's end at 7,000.
    assert request.since_ts >= ts(6_400)
    assert f"after the detection at {found}" in request.reason


def test_without_settling_the_window_starts_at_the_detection():
    ramp = lambda i: float(np.clip(0.05 + 0.4 * (i - 5_000) / 2_000, 0.05, 0.45))  # noqa: E731
    m = ModelMonitor("m", dataclasses.replace(SETTLE, settle_window=0))
    alerts, requests = first_request(m, drifting(14_000, ramp))
    assert requests[0].since_ts < ts(7_000)
    assert requests[0].since_ts in {a.event_ts for a in alerts}


def test_a_drift_in_the_inputs_alone_is_asked_about_at_once():
    config = dataclasses.replace(SETTLE, retrain_on=("data_drift",))
    m = ModelMonitor("m", config)
    rng = np.random.default_rng(1)
    evs = []
    for i in range(6_000):
        x = rng.normal() + (3.0 if i >= 3_000 else 0.0)
        evs.append(Prediction(f"p{i}", "m", "1", ts(i), {"x": float(x)}, int(rng.random() < 0.5)))
    got = run(m, evs)  # no labels at all: nothing to settle on
    drift = [a for a in got["alerts"] if a.kind == "data_drift"]
    [request] = got["retrain"]
    assert request.since_ts == drift[0].event_ts


def test_settling_survives_a_restart():
    m = ModelMonitor("m", SETTLE)
    ramp = lambda i: float(np.clip(0.05 + 0.4 * (i - 5_000) / 2_000, 0.05, 0.45))  # noqa: E731
    evs = drifting(14_000, ramp)
    assert run(m, evs[:2 * 6_400])["retrain"] == []  # mid-ramp: found, not yet asked
    assert m.scheduler.settling_since is not None
    restored = restart(m)
    [request] = run(restored, evs[2 * 6_400:])["retrain"]
    assert request.since_ts >= ts(6_400)


# A cooldown of 2,000 events (10 ms apart): room for repeats within the stream.
REPEAT = dataclasses.replace(SETTLE, retrain_cooldown_ms=20_000)


def test_a_request_that_gave_no_new_version_is_repeated_while_the_version_does_worse():
    m = ModelMonitor("m", REPEAT)
    # A small rise: the detector's episode closes once it has cut its window, so only the
    # version's errors, still above what they were, say the drift is there.
    _, requests = first_request(m, drifting(16_000, lambda i: 0.1 if i < 5_000 else 0.16))
    # No new version ever serves (the gate turned each retrain down): asked again after
    # the cooldown, then after twice that, with the window from the same start.
    assert len(requests) == 3
    first, *again = requests
    assert all(r.since_ts == first.since_ts and r.alert_ids == first.alert_ids for r in again)
    assert all("asked again: the version still does worse than before the drift" in r.reason
               for r in again)
    gaps = [b.ts - a.ts for a, b in zip(requests, requests[1:])]
    assert gaps[1] >= 2 * gaps[0] - 200  # the wait doubles (give or take a batch)


def test_a_drift_that_passed_is_not_asked_about_again():
    m = ModelMonitor("m", REPEAT)
    _, requests = first_request(m, drifting(16_000, lambda i: 0.16 if 5_000 <= i < 6_500 else 0.1))
    assert len(requests) == 1  # the errors are back where they were: nothing to ask again


def _turned_down(m: ModelMonitor, request, status: str = "rejected", request_id: str | None = None) -> None:
    m.answered(ModelVersion("m", "2", status, "1", request_id or request.request_id, None, None, {}, request.ts))


def two_drifts(m: ModelMonitor, answer) -> list:
    """Errors 0.1, then 0.2 from event 5,000, then 0.45 from 10,000; ``answer`` is told of each request."""
    evs = drifting(20_000, lambda i: 0.1 if i < 5_000 else (0.2 if i < 10_000 else 0.45))
    requests = []
    for k in range(0, len(evs), 200):
        for request in m.process(evs[k:k + 200], now_ms=k).retrain:
            requests.append(request)
            answer(m, request)
    return requests


def test_a_request_the_gate_turned_down_holds_no_new_drift_back():
    # The cooldown outlasts the stream: without the answer the second drift waits it out.
    m = ModelMonitor("m", SETTLE)
    first, second = two_drifts(m, _turned_down)
    assert first.since_ts < ts(10_000) <= second.since_ts  # from where the errors settled again
    # The first episode is still open: its request is asked again, without the cooldown.
    assert second.alert_ids == first.alert_ids
    assert "asked again: the errors rose again since it was turned down" in second.reason
    assert second.ts - first.ts < SETTLE.retrain_cooldown_ms
    # The answer lives in the monitor's state, so a restarted worker keeps it.
    assert restart(m).scheduler.asked.request_id == second.request_id


def test_only_a_rejection_of_the_last_request_lifts_the_cooldown():
    for answer in (lambda m, r: None,
                   lambda m, r: _turned_down(m, r, status="champion"),  # its predictions would tell
                   lambda m, r: _turned_down(m, r, request_id="someone-else")):
        m = ModelMonitor("m", SETTLE)
        assert len(two_drifts(m, answer)) == 1


def test_a_second_episode_on_the_drift_already_asked_about_waits_out_the_cooldown():
    m = ModelMonitor("m", SETTLE)
    evs = drifting(14_000, lambda i: 0.1 if i < 5_000 else 0.2, seed=3)
    requests, episodes = [], []
    for k in range(0, len(evs), 200):
        out = m.process(evs[k:k + 200], now_ms=k)
        episodes += [a for a in out.alerts if a.kind in ("concept_drift", "performance") and a.status == "firing"]
        for request in out.retrain:
            requests.append(request)
            _turned_down(m, request)
    # The accuracy test finds the same rise again after the request was turned down; the
    # errors have not risen since, so that is no new drift to lift the cooldown for.
    [request] = requests
    assert [a.detector for a in episodes if a.ts > request.ts] == ["accuracy"]


def _rejected(m: ModelMonitor, request, rows: int, gain: float) -> None:
    gate = {"against": "champion", "gain": gain, "lower_bound": gain - 0.03}
    m.answered(ModelVersion("m", "2", "rejected", "1", request.request_id, None, None,
                            {"n_examples": rows, "gate": gate}, request.ts))


def grown(config, error_rate, n: int = 14_000, gain: float = -0.01) -> list:
    """Requests on a stream of ``error_rate``, each turned down on the labels its window holds so far."""
    m = ModelMonitor("m", config)
    evs = drifting(n, error_rate, seed=3)
    requests = []
    for k in range(0, len(evs), 200):
        for request in m.process(evs[k:k + 200], now_ms=k).retrain:
            requests.append(request)
            labeled = sum(1 for e in evs[:k + 200] if isinstance(e, Feedback) and e.ts >= request.since_ts)
            _rejected(m, request, labeled, gain)
    return requests


def test_a_turned_down_request_is_asked_again_once_its_window_has_grown():
    # The cooldown outlasts the stream; the errors stay up after the drift at 5,000.
    first, *again = grown(SETTLE, lambda i: 0.1 if i < 5_000 else 0.2)
    assert again, "asked again on the grown window"
    # From the same start, for the same alerts (and the accuracy test's on the same rise).
    assert all(r.since_ts == first.since_ts and r.alert_ids[0] == first.alert_ids[0] for r in again)
    assert "the version still does worse than before the drift, and" in again[0].reason
    assert "labels have come since the" in again[0].reason
    # Each time once as many labels have come as the turned-down window held: the window doubles.
    held = [(r.ts - first.since_ts) // 10 for r in [first, *again]]
    assert all(b >= 2 * a - 250 for a, b in zip(held, held[1:])), held


def test_a_grown_window_is_not_asked_about_once_the_drift_has_passed_or_when_disabled():
    # Grown three times over, the window reaches past the drift: the newest errors are back down.
    thrice = dataclasses.replace(SETTLE, ask_again_growth=3.0)
    assert len(grown(thrice, lambda i: 0.2 if 5_000 <= i < 6_500 else 0.1)) == 1
    assert len(grown(thrice, lambda i: 0.1 if i < 5_000 else 0.2)) > 1
    off = dataclasses.replace(SETTLE, ask_again_growth=None)
    assert len(grown(off, lambda i: 0.1 if i < 5_000 else 0.2)) == 1


def test_a_challenger_that_scored_better_short_of_the_gate_s_confidence_is_tried_on_a_grown_window():
    # The version's errors are not "still worse" at this z: only the gate's figures say to ask again.
    lenient = dataclasses.replace(SETTLE, still_worse_z=100.0)
    rise = lambda i: 0.1 if i < 5_000 else 0.2  # noqa: E731
    first, *again = grown(lenient, rise, gain=0.01)
    assert again and "short of the gate's confidence" in again[0].reason
    assert all(r.since_ts == first.since_ts for r in again)
    assert len(grown(lenient, rise, gain=-0.01)) == 1  # the champion scored better: nothing to try

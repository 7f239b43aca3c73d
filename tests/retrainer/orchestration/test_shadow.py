"""Shadow runs in process: a reader stands in for the labeled topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.contract import RetrainRequest
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.orchestration.job import labeled_frame, retrain
from driftline.retrainer.persistence.registry import Registry
from driftline.retrainer.orchestration.shadow import ShadowRegistrations, run_shadow, shadow_events
from driftline.settings import Settings
from tests.retrainer.streams import labeled_events

SETTINGS = Settings(min_train_examples=200, holdout_fraction=0.3, gate_margin=0.01, shadow_events=400,
                    retrain_wait_s=30)


class Reader:
    """Answers like read_window, from a list, and notes how it was asked."""

    def __init__(self, events: list) -> None:
        self.events = events
        self.calls: list[tuple] = []

    def __call__(self, settings: Settings, model_id: str, since_ts: int, *, stop=None):
        self.calls.append((settings.min_train_examples, settings.max_train_examples,
                           settings.retrain_wait_s, model_id, since_ts))
        got = [e for e in self.events if e.ts >= since_ts][:settings.max_train_examples]
        return got, {"topic": "labeled", "since_ts": since_ts, "n_examples": len(got)}


@pytest.fixture
def shadowed(registry: Registry, store: ArtifactStore):
    """v1 champion on Agrawal's concept 0, v2 trained on concept 2 and in shadow."""
    def request(request_id):
        return RetrainRequest(request_id, "m", [f"alert-{request_id}"], since_ts=1_000, ts=5_000)

    retrain(request("q1"), labeled_frame(labeled_events("agrawal0", 1000)), registry, store, SETTINGS)
    registry.start_run("m", "q2", "w1")  # as the worker does before it trains
    shadow = retrain(request("q2"), labeled_frame(labeled_events("agrawal2", 1000, start_ts=10_000)),
                     ShadowRegistrations(registry), store, SETTINGS)
    return shadow


def clock(times):
    it = iter(times)
    return lambda: next(it)


def test_a_challenger_that_passed_the_gate_waits_in_shadow(registry: Registry, shadowed) -> None:
    assert (shadowed.version, shadowed.status, shadowed.parent_version) == ("2", "shadow", "1")
    assert shadowed.reason.startswith("promoted:")  # what the gate said
    assert shadowed.status_reason.startswith("in shadow")
    assert registry.champion("m").version == "1"
    assert registry.run("m", "q2").state == "finished"


def test_a_challenger_better_on_the_live_events_is_promoted_with_its_figures(
        registry: Registry, store: ArtifactStore, shadowed) -> None:
    live = labeled_events("agrawal2", 1000, start_ts=10_500, seed=9, prefix="live")
    reader = Reader(live)
    record = run_shadow(shadowed, registry, store, SETTINGS, request_id="q2", read=reader,
                        clock=clock([100.0, 112.5]))
    # Only events after the newest one it was trained on (ts 10_999), exactly 400 of them.
    assert reader.calls == [(400, 400, 30, "m", 11_000)]
    assert (record.status, registry.champion("m").version) == ("champion", "2")
    assert [v.status for v in registry.versions("m")] == ["archived", "champion"]
    figures = record.metrics["shadow"]
    assert (figures["n_events"], figures["wanted"], figures["champion_version"], figures["waited_s"]) == (
        400, 400, "1", 12.5)
    assert figures["against"] == "champion" and figures["challenger"] > figures["champion"] + 0.2
    assert figures["window"]["since_ts"] == 11_000
    assert record.status_reason.startswith("promoted after its shadow run: on 400 live labeled events "
                                           "its accuracy")
    assert registry.run("m", "q2").outcome == record.status_reason
    assert Path(store.path_of(record.artifact_uri)).exists()


def test_a_challenger_no_better_on_the_live_events_is_rejected(
        registry: Registry, store: ArtifactStore, shadowed) -> None:
    back = labeled_events("agrawal0", 600, start_ts=11_000, seed=9, prefix="live")  # the old concept is back
    record = run_shadow(shadowed, registry, store, SETTINGS, read=Reader(back))
    assert (record.status, record.artifact_uri, registry.champion("m").version) == ("rejected", None, "1")
    assert "does not beat the champion v1's" in record.status_reason
    assert not Path(store.path_of(shadowed.artifact_uri)).exists()


def test_labels_that_do_not_come_in_time_reject_the_challenger(
        registry: Registry, store: ArtifactStore, shadowed) -> None:
    few = labeled_events("agrawal2", 37, start_ts=11_000, seed=9, prefix="live")
    record = run_shadow(shadowed, registry, store, SETTINGS, read=Reader(few), clock=clock([0.0, 30.0]))
    assert record.status == "rejected" and registry.champion("m").version == "1"
    assert record.status_reason == ("rejected after its shadow run: 37 of 400 labeled events arrived "
                                    "within 30 s (DRIFTLINE_RETRAIN_WAIT_S); the champion v1 stays")
    assert record.metrics["shadow"]["n_events"] == 37


def test_a_version_concluded_before_is_returned_as_it_is(
        registry: Registry, store: ArtifactStore, shadowed) -> None:
    live = labeled_events("agrawal2", 400, start_ts=11_000, seed=9, prefix="live")
    first = run_shadow(shadowed, registry, store, SETTINGS, read=Reader(live))
    reader = Reader(live)
    again = run_shadow(registry.get("m", "2"), registry, store, SETTINGS, read=reader)
    assert again == first and reader.calls == []
    # The record as it was first read: still "shadow" to the caller, concluded in the registry.
    assert run_shadow(shadowed, registry, store, SETTINGS, read=reader) == first and reader.calls == []


def test_the_registration_decides_whether_and_how_long_to_shadow(
        registry: Registry, store: ArtifactStore, shadowed) -> None:
    assert shadow_events(SETTINGS, registry.model("m")) == 400
    registry.register_model("m", shadow_events=200)
    assert shadow_events(SETTINGS.replace(shadow_events=0), registry.model("m")) == 200
    registry.register_model("m", shadow_events=0)
    # Turned off while v2 was in shadow: the gate's decision stands.
    record = run_shadow(shadowed, registry, store, SETTINGS, read=Reader([]))
    assert record.status == "champion"
    assert record.status_reason == "promoted on the gate alone: shadow runs are off for this model now"

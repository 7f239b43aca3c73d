from __future__ import annotations

import threading
import time

import pytest

from driftline.contract import Feedback, Prediction, decode_feedback, decode_prediction
from driftline.producers.drifts import Drift
from driftline.producers.model_client import ModelClient
from driftline.producers.publisher import EventPublisher
from driftline.producers.report import SimStats
from driftline.producers.simulator import Simulator
from driftline.producers.streams import make_stream
from driftline.settings import Settings

from .conftest import read_topic
from .fakes import Constant, FileStore, FixedRegistry, VersionRecord


class Collect:
    def __init__(self) -> None:
        self.events: list = []
        self.flushes = 0

    def publish(self, event) -> None:
        self.events.append(event)

    def flush(self, timeout=None) -> None:
        self.flushes += 1


class SeaRule:
    """Right on concept 2 of sea; serves version "1" until ``switch_at`` predictions, then "2"."""

    model_id = "sea"

    def __init__(self, switch_at: int | None = None):
        self.switch_at = switch_at
        self.calls = 0

    def predict(self, x: dict) -> tuple[int, str]:
        self.calls += 1
        version = "2" if self.switch_at is not None and self.calls > self.switch_at else "1"
        return int(x["x0"] + x["x1"] > 7), version


def simulator(publisher=None, client=None, **kw) -> Simulator:
    defaults = dict(
        model_id="sea", stream=make_stream("sea", drifts=[Drift(500)], seed=1),
        client=client or SeaRule(), publisher=publisher or Collect(), rate=0,
        feedback_delay_ms=100, feedback_fraction=0.8, seed=1, start_ts=1_700_000_000_000,
    )
    defaults.update(kw)
    return Simulator(Settings(), **defaults)


def split(events):
    return [e for e in events if isinstance(e, Prediction)], [e for e in events if isinstance(e, Feedback)]


def test_event_time_is_simulated_and_runs_are_deterministic() -> None:
    a, b = Collect(), Collect()
    simulator(a).run(1000)
    simulator(b).run(1000)
    pa, fa = split(a.events)
    pb, fb = split(b.events)
    assert [p.ts for p in pa] == [1_700_000_000_000 + i for i in range(1000)]
    assert [(p.features, p.prediction) for p in pa] == [(p.features, p.prediction) for p in pb]
    index = {p.event_id: i for i, p in enumerate(pa)}
    assert [index[f.prediction_id] for f in fa] == [{p.event_id: i for i, p in enumerate(pb)}[f.prediction_id] for f in fb]
    assert {p.event_id for p in pa}.isdisjoint(p.event_id for p in pb)


def test_feedback_is_sent_once_due_never_before() -> None:
    out = Collect()
    report = simulator(out, feedback_delay_ms=300).run(1000)
    predictions = {}
    clock = 0
    for e in out.events:
        if isinstance(e, Prediction):
            predictions[e.event_id] = e
            clock = e.ts
        else:
            assert e.ts == predictions[e.prediction_id].ts + 300
            assert clock >= e.ts  # the simulated clock had reached the feedback's time
    last = clock
    _, feedback = split(out.events)
    assert report.n_feedback == len(feedback)
    assert all(predictions[f.prediction_id].ts + 300 <= last for f in feedback)
    # Feedback for the last 300 events is not due when the run ends, so it stays pending.
    assert 0 < report.pending_feedback <= 300
    assert 0.75 < (report.n_feedback + report.pending_feedback) / 1000 < 0.85
    assert 0.75 < report.n_feedback / 700 < 0.85


def test_feedback_carries_the_true_label() -> None:
    out = Collect()
    stream = list(make_stream("sea", drifts=[Drift(500)], seed=1, n=1000))
    simulator(out, stream=iter(stream), feedback_fraction=1.0, feedback_delay_ms=0).run(1000)
    predictions, feedback = split(out.events)
    labels = {p.event_id: y for p, (_, y) in zip(predictions, stream)}
    assert len(feedback) == 1000
    assert all(f.label == labels[f.prediction_id] for f in feedback)


def test_pending_feedback_is_sent_by_the_next_run() -> None:
    out = Collect()
    sim = simulator(out, feedback_fraction=1.0, feedback_delay_ms=100)
    first = sim.run(500)
    assert (first.n_feedback, first.pending_feedback) == (400, 100)
    second = sim.run(200)
    assert (second.n_feedback, second.pending_feedback) == (200, 100)
    predictions, _ = split(out.events)
    assert predictions[500].ts == predictions[499].ts + 1  # event time continues


def test_report_tracks_versions_and_accuracy_around_the_drift() -> None:
    report = simulator(client=SeaRule(switch_at=700)).run(1000)
    assert report.n_events == 1000
    assert report.accuracy(0, 500) == 1.0
    assert report.accuracy(500, 1000) < 0.9
    assert report.version_changes() == [(700, "2")]


def test_progress_and_stop() -> None:
    stop = threading.Event()
    seen: list[SimStats] = []

    def on_progress(stats: SimStats) -> None:
        seen.append(stats)
        if stats.events == 300:
            stop.set()

    report = simulator().run(1000, stop=stop, on_progress=on_progress, progress_every=100)
    assert report.n_events == 300
    assert [s.events for s in seen] == [100, 200, 300]
    assert seen[0].accuracy == 1.0 and seen[0].version == "1"


def test_rate_is_kept_in_wall_time() -> None:
    started = time.monotonic()
    report = simulator(rate=2000).run(400)
    elapsed = time.monotonic() - started
    assert 0.18 < elapsed < 2.0
    assert report.elapsed_s <= elapsed


def test_a_finite_stream_ends_the_run() -> None:
    report = simulator(stream=make_stream("sea", seed=0, n=50)).run(1000)
    assert report.n_events == 50


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"rate": -1}, "rate must be >= 0"),
        ({"feedback_fraction": 1.5}, "feedback_fraction must be in"),
        ({"feedback_delay_ms": -1}, "feedback_delay_ms must be >= 0"),
        ({"model_id": "fraud"}, "the client serves model 'sea', not 'fraud'"),
    ],
)
def test_bad_arguments(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulator(**kw)


@pytest.mark.broker
def test_simulated_service_on_a_real_broker(settings: Settings, topics, tmp_path) -> None:
    store = FileStore(tmp_path)
    uri, sha = store.save(Constant(1), "1")
    client = ModelClient("sea", registry=FixedRegistry(VersionRecord("sea", "1", uri, sha)), store=store,
                         follow=False)
    delay, fraction, n = 200, 0.8, 2000
    with EventPublisher(settings) as publisher:
        sim = Simulator(
            settings, model_id="sea", stream=make_stream("sea", drifts=[Drift(1000)], seed=4),
            client=client, publisher=publisher, rate=0, feedback_delay_ms=delay,
            feedback_fraction=fraction, seed=4, start_ts=1_700_000_000_000,
        )
        report = sim.run(n)

    predictions = [decode_prediction(r.value) for r in read_topic(settings, topics.predictions, n)]
    assert len(predictions) == n
    assert {p.model_version for p in predictions} == {"1"}
    feedback = [decode_feedback(r.value) for r in read_topic(settings, topics.feedback, report.n_feedback)]
    assert len(feedback) == report.n_feedback
    # Only events at least `delay` ms of event time before the last one can have had feedback.
    eligible = n - delay
    assert abs(len(feedback) - fraction * eligible) < 5 * (eligible * fraction * (1 - fraction)) ** 0.5
    ts = {p.event_id: p.ts for p in predictions}
    assert all(f.ts >= ts[f.prediction_id] + delay for f in feedback)
    assert report.accuracy() == pytest.approx(sum(1 for f in feedback if f.label == 1) / len(feedback), abs=0.05)

"""The monitor worker on a real broker: dead letters, the label join, metrics."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from driftline.contract import (
    ModelVersion, Topics, decode_dead_letter, decode_labeled, decode_metrics, decode_retrain_request, dumps,
)
from driftline.kafka_admin import ensure_topics
from driftline.processes import run_roles
from driftline.settings import Settings
from tests.integration.kafka_io import at_least, produce, produce_to, read

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def monitor(kafka_bootstrap, tmp_path_factory):
    home = tmp_path_factory.mktemp("monitor-home")
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                        home=str(home), partitions=2, max_message_bytes=4000,
                        batch_within_s=0.1, metrics_every=50, label_ttl_ms=5000,
                        reference_size=200)
    ensure_topics(settings)
    with run_roles(settings, ["monitor"], home / "logs") as procs:
        yield settings
        assert procs["monitor"].poll() is None, (home / "logs" / "monitor.log").read_text()[-3000:]


def prediction(i: int, model: str, ts: int, **over) -> dict:
    doc = {"event_id": f"{model}-p{i}", "model_id": model, "model_version": "1", "ts": ts,
           "features": {"x": float(i % 7), "country": "NL" if i % 3 else "DE"},
           "prediction": i % 2}
    doc.update(over)
    return doc


def feedback(i: int, model: str, ts: int, label=None) -> dict:
    return {"event_id": f"{model}-f{i}", "prediction_id": f"{model}-p{i}", "model_id": model,
            "ts": ts, "label": i % 2 if label is None else label}


def test_malformed_events_go_to_dead_letter_and_valid_ones_around_them_are_processed(monitor):
    s, t = monitor, Topics(monitor.topic_prefix)
    model = f"dl-{uuid.uuid4().hex[:6]}"
    key = model.encode()
    bad_predictions = [
        (b"this is not json", "not JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (dumps({k: v for k, v in prediction(90, model, 1).items() if k != "features"}),
         "missing field 'features'"),
        (dumps(prediction(91, model, 1) | {"ts": "yesterday"}), "field 'ts' must be epoch milliseconds"),
        (dumps(prediction(92, model, 1)).replace(b'"x":1.0', b'"x":NaN'), "NaN is not a valid JSON number"),
        (dumps(prediction(93, model, 1, features={"x": "y" * 5000})), "over the limit of 4000"),
    ]
    produce(s.kafka_bootstrap, t.predictions,
            [(key, dumps(prediction(1, model, 1000)))]
            + [(key, raw) for raw, _ in bad_predictions]
            + [(b"someone-else", dumps(prediction(94, model, 1))),
               (key, dumps(prediction(2, model, 2000)))])
    produce(s.kafka_bootstrap, t.feedback,
            [(key, dumps(feedback(1, model, 3000))),
             (key, dumps(feedback(3, model, 3000, label=None) | {"label": None})),
             (key, dumps(feedback(2, model, 3000)))])
    reasons = [r for _, r in bad_predictions] + ["is not the model_id", "field 'label' must be"]

    dead = read(s.kafka_bootstrap, t.dead_letter, until=at_least(len(reasons)))
    letters = [decode_dead_letter(r.value) for r in dead]
    assert len(letters) == len(reasons)
    for reason in reasons:
        assert any(reason in d.error for d in letters), (reason, [d.error for d in letters])
    originals = {raw for raw, _ in bad_predictions}
    assert originals <= {d.raw_bytes for d in letters}  # the exact bytes are kept
    assert all(d.source_topic in (t.predictions, t.feedback) and d.offset >= 0 for d in letters)

    labeled = read(s.kafka_bootstrap, t.labeled,
                   until=lambda rs: {f"{model}-p1", f"{model}-p2"} <= _ids(rs, model))
    assert {f"{model}-p1", f"{model}-p2"} <= _ids(labeled, model)


def _ids(records, model) -> set[str]:
    out = set()
    for r in records:
        ev = decode_labeled(r.value)
        if ev.model_id == model:
            out.add(ev.event_id)
    return out


def test_prediction_without_feedback_blocks_nothing_and_expires(monitor):
    s, t = monitor, Topics(monitor.topic_prefix)
    model = f"late-{uuid.uuid4().hex[:6]}"
    key = model.encode()
    n = 120
    # p0 never gets a label; every other prediction does, some of them before it.
    produce(s.kafka_bootstrap, t.predictions,
            [(key, dumps(prediction(i, model, 1000 + i * 10))) for i in range(n)])
    produce(s.kafka_bootstrap, t.feedback,
            [(key, dumps(feedback(i, model, 1500 + i * 10))) for i in range(1, n)])
    labeled = read(s.kafka_bootstrap, t.labeled, until=lambda rs: len(_ids(rs, model)) >= n - 1)
    got = _ids(labeled, model)
    assert len(got) == n - 1 and f"{model}-p0" not in got
    for r in labeled:
        ev = decode_labeled(r.value)
        if ev.model_id == model:
            assert ev.label == int(ev.event_id.rsplit("p", 1)[1]) % 2
    # Event time moves far past the label TTL: p0 is given up on and counted.
    produce(s.kafka_bootstrap, t.predictions,
            [(key, dumps(prediction(n + i, model, 100_000 + i))) for i in range(60)])

    def expired(records) -> bool:
        return any(m.model_id == model and m.n_expired >= 1
                   for m in (decode_metrics(r.value) for r in records))

    metrics = read(s.kafka_bootstrap, t.metrics, until=expired)
    assert expired(metrics)
    last = [decode_metrics(r.value) for r in metrics if decode_metrics(r.value).model_id == model][-1]
    assert last.n_labeled == n - 1 and last.n_invalid == 0
    assert set(last.features) == {"x", "country"}
    assert json.loads(json.dumps(last.to_dict()))  # a JSON document other tools can read


def test_state_survives_a_worker_restart(kafka_bootstrap, tmp_path):
    """Predictions pending before a restart are joined with labels that arrive after it."""
    s = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                 home=str(tmp_path), partitions=2, batch_within_s=0.1, metrics_every=100,
                 reference_size=200)
    t = Topics(s.topic_prefix)
    ensure_topics(s)
    model = "restart"
    key = model.encode()
    with run_roles(s, ["monitor"], tmp_path / "logs"):
        produce(s.kafka_bootstrap, t.predictions,
                [(key, dumps(prediction(i, model, 1000 + i))) for i in range(150)])
        # The first metrics snapshot proves the batch was processed (and its state written).
        read(s.kafka_bootstrap, t.metrics, until=at_least(1))
    # A new worker process: nothing in memory, everything from the changelogs.
    with run_roles(s, ["monitor"], tmp_path / "logs2"):
        produce(s.kafka_bootstrap, t.feedback,
                [(key, dumps(feedback(i, model, 5000 + i))) for i in range(150)])
        produce(s.kafka_bootstrap, t.predictions,
                [(key, dumps(prediction(i, model, 6000 + i))) for i in range(150, 250)])
        labeled = read(s.kafka_bootstrap, t.labeled, until=lambda rs: len(_ids(rs, model)) >= 150)
        metrics = read(s.kafka_bootstrap, t.metrics,
                       until=lambda rs: any(decode_metrics(r.value).n_predictions >= 250 for r in rs))
    assert len(_ids(labeled, model)) == 150
    last = max((decode_metrics(r.value) for r in metrics), key=lambda m: m.n_predictions)
    # Counters continue from the restored state rather than starting again at zero.
    assert last.n_predictions == 250 and last.n_labeled == 150


def test_a_request_the_retrainer_turned_down_lets_a_new_drift_ask_before_the_cooldown(monitor):
    """The monitor reads model-versions: a rejected answer to its request lifts the cooldown
    (600 s of event time here, three times the stream) for a drift found after it."""
    s, t = monitor, Topics(monitor.topic_prefix)
    model = f"ans-{uuid.uuid4().hex[:6]}"
    key = model.encode()
    rng = np.random.default_rng(5)

    def phase(lo: int, hi: int, error: float) -> None:
        # In steps of 200 events (2 s of event time), well inside the label join's 5 s ttl.
        messages = []
        for step in range(lo, hi, 200):
            labels = [int(v) for v in rng.random(200) < 0.5]
            wrong = rng.random(200) < error
            messages += [(t.predictions, key, dumps(prediction(i, model, 10 * i, prediction=y ^ int(w))))
                         for i, y, w in zip(range(step, step + 200), labels, wrong)]
            messages += [(t.feedback, key, dumps(feedback(i, model, 10 * i + 5, label=y)))
                         for i, y in zip(range(step, step + 200), labels)]
        produce_to(s.kafka_bootstrap, messages)

    def requests(n: int) -> list:
        got = read(s.kafka_bootstrap, t.retrain_requests, timeout_s=120,
                   until=lambda rs: len([r for r in rs if r.key == key]) >= n)
        return [decode_retrain_request(r.value) for r in got if r.key == key]

    for lo in range(0, 10_000, 2_500):  # errors 0.1, then 0.2 from event 5,000
        phase(lo, lo + 2_500, 0.1 if lo < 5_000 else 0.2)
    [first] = requests(1)
    rejected = ModelVersion(model, "2", "rejected", "1", first.request_id, None, None, {}, first.ts,
                            reason="rejected: the challenger is not better")
    produce(s.kafka_bootstrap, t.model_versions, [(key, rejected.encode())])
    for lo in range(10_000, 20_000, 2_500):  # then 0.45 from event 10,000
        phase(lo, lo + 2_500, 0.45)
    first, second = requests(2)
    assert first.since_ts < 10 * 10_000 <= second.since_ts
    # A new episode asks, or the first one, still open, asks again from where the errors
    # settled anew, whichever the monitor sees first; neither waits out the cooldown.
    assert (set(second.alert_ids).isdisjoint(first.alert_ids)
            or "asked again: the errors rose again since it was turned down" in second.reason)

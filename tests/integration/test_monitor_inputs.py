"""Inputs that once stopped the monitor, sent from outside with a plain client to a running worker.

Each is processed or dead-lettered with its reason, and the valid events around
it are processed: event times far from the broker's clock, poison messages,
and wide models.
"""

from __future__ import annotations

import hashlib
import time
import uuid

import numpy as np
import pytest

from driftline.contract import Topics, decode_alert, decode_dead_letter, decode_labeled, dumps
from driftline.kafka_admin import ensure_topics
from driftline.processes import run_roles
from driftline.settings import Settings
from tests.integration.kafka_io import produce, read

pytestmark = pytest.mark.broker

DAY_MS = 86_400_000


def _settings(kafka_bootstrap: str, home) -> Settings:
    return Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                    home=str(home), partitions=2, batch_within_s=0.1, metrics_every=100,
                    reference_size=200, commit_interval_ms=300)


@pytest.fixture(scope="module")
def monitor(kafka_bootstrap, tmp_path_factory):
    home = tmp_path_factory.mktemp("inputs-home")
    settings = _settings(kafka_bootstrap, home)
    ensure_topics(settings)
    with run_roles(settings, ["monitor"], home / "logs") as procs:
        yield settings
        assert procs["monitor"].poll() is None, (home / "logs" / "monitor.log").read_text()[-3000:]


def prediction(model: str, i: int, ts: int, features: dict | None = None) -> dict:
    return {"event_id": f"{model}-p{i}", "model_id": model, "model_version": "1", "ts": ts,
            "features": features if features is not None else {"x": float(i % 5)},
            "prediction": i % 2}


def feedback(model: str, i: int, ts: int) -> dict:
    return {"event_id": f"{model}-f{i}", "prediction_id": f"{model}-p{i}", "model_id": model,
            "ts": ts, "label": i % 2}


def send_stream(s: Settings, model: str, docs: list[dict], labels: list[dict]) -> None:
    t, key = Topics(s.topic_prefix), model.encode()
    produce(s.kafka_bootstrap, t.predictions, [(key, dumps(d)) for d in docs])
    produce(s.kafka_bootstrap, t.feedback, [(key, dumps(d)) for d in labels])


def labeled_of(s: Settings, model: str, n: int, timeout_s: float = 90.0) -> list:
    def mine(records):
        return [r for r in records if r.key == model.encode("utf-8")]
    records = read(s.kafka_bootstrap, Topics(s.topic_prefix).labeled,
                   until=lambda rs: len(mine(rs)) >= n, timeout_s=timeout_s)
    return mine(records)


@pytest.mark.parametrize("offset_ms", [40 * DAY_MS, -3650 * DAY_MS], ids=["40-days-ahead", "10-years-behind"])
def test_event_times_far_from_the_brokers_clock_are_processed_and_alert(monitor, offset_ms):
    s = monitor
    model = f"clock-{uuid.uuid4().hex[:6]}"
    base = int(time.time() * 1000) + offset_ms
    rng = np.random.default_rng(3)
    n, shift_at = 600, 250
    x = np.where(np.arange(n) < shift_at, rng.normal(size=n), rng.normal(6.0, 1.0, size=n))
    docs = [prediction(model, i, base + 10 * i, {"x": float(x[i])}) for i in range(n)]
    send_stream(s, model, docs, [feedback(model, i, base + 10 * i + 5) for i in range(n)])

    labeled = labeled_of(s, model, n)
    examples = [decode_labeled(r.value) for r in labeled]
    assert sorted(e.event_id for e in examples) == sorted(d["event_id"] for d in docs)
    assert {e.ts for e in examples} == {d["ts"] for d in docs}  # event time stays in the payload
    now = time.time() * 1000
    # The Kafka timestamp is the time of processing, which the broker accepts.
    assert all(abs(r.timestamp - now) < 3_600_000 for r in labeled)

    alerts = read(s.kafka_bootstrap, Topics(s.topic_prefix).alerts, timeout_s=60,
                  until=lambda rs: any(decode_alert(r.value).model_id == model for r in rs))
    mine = [decode_alert(r.value) for r in alerts if decode_alert(r.value).model_id == model]
    assert any(a.kind == "data_drift" and a.feature == "x" for a in mine), mine
    drift = next(a for a in mine if a.kind == "data_drift")
    assert drift.event_ts >= base + 10 * shift_at  # found after the shift, on the events' clock


def _poison(model: str) -> list[tuple[bytes | None, bytes, str]]:
    """(Kafka key, message, what the dead letter's reason must say)."""
    key = model.encode()
    good = dumps(prediction(model, 9999, 1_000))

    def swap(old: bytes, new: bytes) -> bytes:
        assert old in good
        return good.replace(old, new)

    head = good.split(b'"features"')[0]
    return [
        (key, head + b'"features":{"x":' + b"[" * 100_000 + b"]" * 100_000 + b'},"prediction":1}',
         "nested more than"),
        (key, swap(b'"x":4.0', b'"x":' + b"9" * 5000), "5000 digits"),
        (key, swap(b'"x":4.0', b'"x":1e400'), "must be finite"),
        (key, swap(b'"x":4.0', b'"x":1' + b"0" * 399), "outside the 64-bit range"),
        (key, swap(b'"ts":1000', b'"ts":100000000000000000000'), "field 'ts'"),
        (key, swap(b'"x":4.0', b'"\\ud800":4.0'), "lone UTF-16 surrogate"),
        (key, swap(b'"x":4.0', b'"x":4.0,"c":"\\udfff"'), "lone UTF-16 surrogate"),
        (key, swap(f'"{model}-p9999"'.encode(), b'"\\ud800"'), "lone UTF-16 surrogate"),
        (b"\xed\xa0\x80", swap(f'"model_id":"{model}"'.encode(), b'"model_id":"\\ud800"'),
         "lone UTF-16 surrogate"),
        (None, dumps(prediction(model, 9996, 1_000)), "no Kafka key"),
        (b"another-model", dumps(prediction(model, 9995, 1_000)), "is not the model_id"),
        (key, b"42", "expected a JSON object"),
        (key, b"[1, 2]", "expected a JSON object"),
        (key, b"\xff\xfe not text", "not UTF-8"),
        (key, swap(b'"x":4.0', b'"x":NaN'), "NaN"),
        (key, dumps(prediction(model, 9998, 1_000, {f"f{j}": 1.0 for j in range(10_000)})),
         "10000 features, over the limit of 1000"),
        (key, swap(b'"x":4.0', b'"<prediction>":4.0'), "reserved for the model's prediction"),
        (key, dumps(prediction(model, 9997, 9 * 10**15)), "the model's clock"),
    ]


def test_poison_messages_are_dead_lettered_and_the_valid_events_around_them_processed(monitor):
    s, t = monitor, Topics(monitor.topic_prefix)
    model = f"poison-{uuid.uuid4().hex[:6]}"
    poison = _poison(model)
    n = 20 * len(poison)
    messages: list[tuple[bytes | None, bytes]] = []
    for i in range(n):
        messages.append((model.encode(), dumps(prediction(model, i, 10_000 + i))))
        if i % 20 == 10:
            key, raw, _ = poison[i // 20]
            messages.append((key, raw))
    produce(s.kafka_bootstrap, t.predictions, messages)
    produce(s.kafka_bootstrap, t.feedback,
            [(model.encode(), dumps(feedback(model, i, 10_000 + i + 5))) for i in range(n)])

    labeled = labeled_of(s, model, n)
    assert sorted(decode_labeled(r.value).event_id for r in labeled) == sorted(
        f"{model}-p{i}" for i in range(n))
    raws = {raw for _, raw, _ in poison}
    dead = read(s.kafka_bootstrap, t.dead_letter, timeout_s=60,
                until=lambda rs: sum(decode_dead_letter(r.value).raw_bytes in raws for r in rs)
                >= len(poison))
    letters = [decode_dead_letter(r.value) for r in dead]
    letters = [d for d in letters if d.raw_bytes in raws]
    assert len(letters) == len(poison)
    for key, raw, why in poison:
        (letter,) = [d for d in letters if d.raw_bytes == raw]
        assert why in letter.error, (why, letter.error)


def test_a_model_id_with_a_control_character_is_just_a_model(monitor):
    s = monitor
    model = f"ctl\x1f{uuid.uuid4().hex[:6]}"
    send_stream(s, model, [prediction(model, i, 5_000 + i) for i in range(30)],
                [feedback(model, i, 5_000 + i + 1) for i in range(30)])
    assert len(labeled_of(s, model, 30)) == 30


def test_an_invalid_message_near_the_size_limit_is_dead_lettered_with_its_head_size_and_sha256(monitor):
    s, t = monitor, Topics(monitor.topic_prefix)
    model = f"big-{uuid.uuid4().hex[:6]}"
    raw = b'{"event_id":"' + b"a" * 900_000 + b'"'  # broken JSON, a few bytes under the topic's limit
    produce(s.kafka_bootstrap, t.predictions, [(model.encode(), raw)])
    dead = read(s.kafka_bootstrap, t.dead_letter, timeout_s=60,
                until=lambda rs: any(decode_dead_letter(r.value).raw_size == len(raw) for r in rs))
    (letter,) = [decode_dead_letter(r.value) for r in dead if decode_dead_letter(r.value).raw_size == len(raw)]
    assert letter.raw_sha256 == hashlib.sha256(raw).hexdigest()
    assert 0 < len(letter.raw_bytes) < len(raw) and raw.startswith(letter.raw_bytes)
    assert "not JSON" in letter.error


def test_a_model_with_100_numeric_features_is_monitored_and_its_state_fits(monitor):
    s = monitor
    model = f"wide-{uuid.uuid4().hex[:6]}"
    rng = np.random.default_rng(5)
    n = 400
    X = rng.normal(size=(n, 100))
    docs = [prediction(model, i, 20_000 + i, {f"f{j}": float(X[i, j]) for j in range(100)}) for i in range(n)]
    send_stream(s, model, docs, [feedback(model, i, 20_000 + i + 1) for i in range(n)])
    assert len(labeled_of(s, model, n)) == n
    # Its state (a 100-feature reference) went to the state topic in parts the broker took.
    state = read(s.kafka_bootstrap, f"{s.topic_prefix}monitor-state", timeout_s=30,
                 until=lambda rs: any(model.encode() in (r.key or b"") for r in rs))
    assert any(model.encode() in (r.key or b"") for r in state)


def _topic_limit(bootstrap: str, topic: str, limit: int | None) -> None:
    """Set (or, with None, delete) ``max.message.bytes`` of ``topic`` on the broker."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        # kafka-python's alter_configs replaces the topic's whole set of overrides.
        configs = {"cleanup.policy": "delete"} if limit is None else {"max.message.bytes": str(limit)}
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)])
    finally:
        admin.close()


def test_an_output_the_broker_refuses_goes_to_dead_letter_and_the_rest_go_on(monitor):
    # Last in this module: it narrows the labeled topic of the module's monitor for a while.
    s, t = monitor, Topics(monitor.topic_prefix)
    model = f"refused-{uuid.uuid4().hex[:6]}"
    # The worker learnt the topic's limit when it started; the broker now holds a smaller one,
    # so the record goes out and the broker itself refuses it.
    _topic_limit(s.kafka_bootstrap, t.labeled, 2_000)
    try:
        time.sleep(2)  # the broker applies a topic's new config within moments
        docs = [prediction(model, i, 30_000 + i) for i in range(40)]
        docs[20]["features"] = {"x": 1.0, "note": "n" * 5_000}  # its labeled example is > 5 kB
        send_stream(s, model, docs, [feedback(model, i, 30_000 + i + 1) for i in range(40)])
        wanted = f"{model}-p20".encode()

        def refused(records):
            return [decode_dead_letter(r.value) for r in records
                    if wanted in base64_raw(r.value) and b"refused" in r.value]

        dead = read(s.kafka_bootstrap, t.dead_letter, timeout_s=90, until=lambda rs: bool(refused(rs)))
        (letter,) = refused(dead)
        assert letter.source_topic == t.labeled
        assert letter.error.startswith(f"output to {t.labeled} refused: the broker refused the record: ")
        assert "TooLarge" in letter.error, letter.error
        example = decode_labeled(letter.raw_bytes)  # the refused example itself, kept whole
        assert example.event_id == f"{model}-p20" and len(example.features["note"]) == 5_000
        # The batch around it went on: every other example is on the labeled topic.
        got = {decode_labeled(r.value).event_id for r in labeled_of(s, model, 39)}
        assert got == {f"{model}-p{i}" for i in range(40) if i != 20}
    finally:
        _topic_limit(s.kafka_bootstrap, t.labeled, None)


def base64_raw(value: bytes) -> bytes:
    return decode_dead_letter(value).raw_bytes

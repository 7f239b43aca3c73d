"""Thousands of bad messages of many kinds, listed and generated, among valid events, to a running monitor.

Every message the contract refuses is in ``dead-letter`` with a reason (found by
its topic, partition and offset), the worker never fails, and every valid event
around them is processed: each prediction is labeled once and counted in the
model's metrics. Duplicates and feedback for predictions never seen are not
errors: the first are dropped by event id, the second wait for their prediction.
"""

from __future__ import annotations

import json
import random
import time
import uuid

import pytest
from kafka import KafkaProducer

from driftline.contract import (
    Topics, decode_dead_letter, decode_feedback, decode_labeled, decode_metrics, decode_prediction, dumps,
)
from driftline.exceptions import InvalidEvent
from driftline.kafka_admin import ensure_topics
from driftline.processes import run_roles
from driftline.settings import Settings
from tests.integration.kafka_io import read, read_to_end

pytestmark = pytest.mark.broker

LIMIT = 200_000  # DRIFTLINE_MAX_MESSAGE_BYTES of this monitor
N = 600  # valid predictions (each with its feedback) per main model


def sent_at(bootstrap: str, messages: list[tuple[str, bytes | None, bytes]]) -> list[tuple[str, int, int]]:
    """Send in order with one producer; the (topic, partition, offset) each message got."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                             max_request_size=2 * LIMIT)
    try:
        futures = [producer.send(topic, key=key, value=value) for topic, key, value in messages]
        producer.flush()
        return [(m.topic, m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)]
    finally:
        producer.close()


def prediction(model: str, i: int, ts: int, features: dict | None = None) -> dict:
    return {"event_id": f"{model}-p{i}", "model_id": model, "model_version": "1", "ts": ts,
            "features": {"x": float(i % 7), "c": "ab"[i % 2]} if features is None else features,
            "prediction": i % 2}


def feedback(model: str, i: int, ts: int, prediction_id: str | None = None) -> dict:
    return {"event_id": f"{model}-f{i}", "prediction_id": prediction_id or f"{model}-p{i}",
            "model_id": model, "ts": ts, "label": (i // 3) % 2}


def listed_bad(model: str, base: int) -> list[tuple[str, bytes | None, bytes]]:
    """(input, Kafka key, message): one of each kind the issue lists that the contract refuses."""
    key = model.encode()
    good = prediction(model, 0, base)

    def p(**change) -> bytes:
        return dumps({**good, "event_id": f"bad-{uuid.uuid4().hex[:8]}", **change})

    def without(name: str, doc: dict) -> bytes:
        return dumps({k: v for k, v in doc.items() if k != name})

    text = json.dumps(good)
    fb = feedback(model, 0, base)
    return [
        ("p", key, b"\xff\xfe\x00 not text"),
        ("p", key, b"\xc3\x28" + dumps(good)),
        ("p", key, b"{not json"),
        ("p", key, b""),
        ("f", key, b"\x00\x01\x02"),
        ("p", key, b"42"), ("p", key, b'"a string"'), ("p", key, b"null"), ("p", key, b"true"),
        ("p", key, b"-1.5e3"), ("p", key, b"[1, 2, 3]"), ("p", key, b"[]"), ("f", key, b"[{}]"),
        ("p", key, without("features", good)), ("p", key, without("model_id", good)),
        ("p", key, without("ts", good)), ("f", key, without("prediction_id", fb)),
        ("f", key, without("label", fb)),
        ("p", key, p(ts="yesterday")), ("p", key, p(model_version=3)), ("p", key, p(features=[1, 2])),
        ("p", key, p(features={"x": [1]})), ("p", key, p(prediction=None)), ("p", key, p(event_id="")),
        ("f", key, dumps({**fb, "label": {"a": 1}})), ("f", key, dumps({**fb, "ts": True})),
        ("p", key, text.replace('"x": 0.0', '"x": NaN').encode()),
        ("p", key, text.replace('"x": 0.0', '"x": Infinity').encode()),
        ("p", key, text.replace('"x": 0.0', '"x": -Infinity').encode()),
        ("p", key, text.replace('"prediction": 0', '"prediction": NaN').encode()),
        ("p", key, text.replace('"x": 0.0', '"x": 1e400').encode()),
        ("p", key, text.replace('"x": 0.0', '"x": ' + "1" + "0" * 400).encode()),
        ("p", key, text.replace('"features": {', '"features": {"deep": ' + "[" * 50_000 + "]" * 50_000
                                + ", ").encode()),
        ("p", key, b"{" * 10_000),
        ("p", key, b'{"event_id": "' + b"a" * (LIMIT - 100)),  # just under the limit, broken
        ("p", key, p(features={"blob": "b" * LIMIT})),  # valid JSON, over the limit
        ("p", None, p()),  # null key
        ("p", b"another-model", p()),  # key not the model_id
        ("p", b"\xed\xa0\x80", p()),  # a key that is no text
        ("p", key, text.replace('"x": 0.0', '"\\ud800": 0.0').encode()),  # lone surrogate in a name
        ("p", key, text.replace('"c": "a"', '"c": "\\udfff"').encode()),
        ("p", key, p(features={f"f{j}": 1.0 for j in range(10_000)})),  # 10,000 features
        ("p", key, p(features={"x": 1.0, "<prediction>": 2.0})),
        ("p", key, p(model_id="m" * 10_000)),  # a 10 kB model_id, keyed by it too
        ("p", b"m" * 10_000, p(model_id="m" * 10_000)),
        ("p", key, p(event_id="e" * 10_000)),
        ("p", key, p(ts=-1)), ("p", key, p(ts=2 ** 53)), ("p", key, p(ts=10 ** 20)), ("p", key, p(ts=1.5)),
        ("p", key, p(ts=9 * 10 ** 15)),  # decodes; far ahead of the model's clock
        ("p", key, p(ts=1)),  # decodes; 55 years behind it
        ("f", key, dumps({**fb, "event_id": "fb-absurd", "ts": 9 * 10 ** 15})),
    ]


# ---------------------------------------------------------------- generated bad input

def _odd_text(rng: random.Random) -> str:
    pool = ["\x00", "\x1f", "\u202e", "\ufeff", "\U0001f600", "\ud800", "\udfff", "a", "é", '"', "\\"]
    return "".join(rng.choice(pool) for _ in range(rng.randint(0, 6)))


def _json_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2 ** 53, 2 ** 63, -(2 ** 63) - 1, 2 ** 64, 10 ** 400, rng.getrandbits(80)])
    if kind == 3:
        return rng.choice([float("nan"), float("inf"), -float("inf"), 1e308, -0.0, rng.random()])
    if kind in (4, 5):
        return _odd_text(rng)
    if kind in (6, 7):
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_odd_text(rng): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _encode(rng: random.Random, value) -> bytes:
    return json.dumps(value, allow_nan=True, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


def generated_bad(model: str, base: int, n: int, seed: int) -> list[tuple[str, bytes | None, bytes]]:
    """``n`` messages the contract refuses, drawn from the property tests' building blocks.

    Each starts as a valid prediction or feedback and is mutated, or is any JSON
    value or any bytes; what the decoder of its topic still accepts is drawn again.
    """
    rng = random.Random(seed)
    key = model.encode()
    out: list[tuple[str, bytes | None, bytes]] = []
    while len(out) < n:
        where = rng.choice("pf")
        doc = prediction(model, rng.randrange(10 ** 6), base) if where == "p" else feedback(model, 0, base)
        doc["event_id"] = f"gen-{len(out)}"
        shape = rng.randrange(6)
        if shape == 0:
            raw = rng.randbytes(rng.randint(0, 64))
        elif shape == 1:
            raw = _encode(rng, _json_value(rng))
        else:
            for _ in range(rng.randint(1, 3)):
                field = rng.choice(sorted(doc))
                how = rng.randrange(4)
                if how == 0:
                    del doc[field]
                elif how == 1:
                    doc[field] = _json_value(rng)
                elif how == 2:
                    doc["ts"] = rng.choice([-1, 2 ** 53, 10 ** 400, float("nan"), "now", 1.5])
                else:
                    if not isinstance(doc.get("features"), dict):
                        doc["features"] = {}
                    doc["features"][_odd_text(rng)] = _json_value(rng)
            raw = _encode(rng, doc)
        decode = decode_prediction if where == "p" else decode_feedback
        try:
            decode(raw, LIMIT)
        except InvalidEvent:
            out.append((where, key, raw))
    return out


# ---------------------------------------------------------------- the test


class _NONE:
    n_predictions = -1


def _latest_metrics(records, model: str):
    mine = [decode_metrics(r.value) for r in records if r.key == model.encode()]
    return max(mine, key=lambda m: (m.n_predictions, m.n_labeled, m.n_invalid), default=None)


def test_bad_input_listed_and_generated_is_dead_lettered_and_the_valid_events_around_it_processed(
        kafka_bootstrap, tmp_path):
    started = time.monotonic()
    s = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                 home=str(tmp_path), partitions=2, batch_within_s=0.1, metrics_every=1,
                 reference_size=200, commit_interval_ms=300, max_message_bytes=LIMIT)
    t = Topics(s.topic_prefix)
    ensure_topics(s)
    uid = uuid.uuid4().hex[:6]
    mains = [f"fz-{c}-{uid}" for c in "ab"]
    odd = f"odd-\u202e\x1f\U0001f600-{uid}"  # a model whose feature names are odd Unicode
    base = int(time.time() * 1000)
    rng = random.Random(7)
    topic_of = {"p": t.predictions, "f": t.feedback}

    valid_p: list[tuple[str, bytes, bytes]] = []  # (model, key, message)
    valid_f: list[tuple[str, bytes, bytes]] = []
    for model in mains:
        for i in range(N):
            valid_p.append((model, model.encode(), dumps(prediction(model, i, base + 10 * i))))
            valid_f.append((model, model.encode(), dumps(feedback(model, i, base + 10 * i + 5))))
    odd_names = ["\u202e", "\x00", "\U0001f600\u200b", "e\u0301", "\ufeff", " ", "", "名前", "\\\"", "/"]
    for i in range(50):
        feats = {name: (float(i % 5) if j % 2 else "ab"[i % 2]) for j, name in enumerate(odd_names)}
        valid_p.append((odd, odd.encode(), dumps(prediction(odd, i, base + 10 * i, feats))))
        valid_f.append((odd, odd.encode(), dumps(feedback(odd, i, base + 10 * i + 5))))
    # A valid prediction just under the size limit, processed like any other.
    big = dict(prediction(mains[0], N, base + 10 * N), features={"x": 1.0, "c": "a", "note": "n" * (LIMIT - 500)})
    valid_p.append((mains[0], mains[0].encode(), dumps(big)))
    valid_f.append((mains[0], mains[0].encode(), dumps(feedback(mains[0], N, base + 10 * N + 5))))
    assert LIMIT - 1000 < len(valid_p[-1][2]) <= LIMIT

    # Neither of these is an error: a duplicate is dropped by event id, and feedback for a
    # prediction never seen waits for it (until its time to live).
    duplicates = [("p", key, raw) for _model, key, raw in rng.sample(valid_p[:2 * N], 100)]
    strangers = [("f", m.encode(), dumps(feedback(m, 10_000 + i, base + 10 * i, f"never-{i}")))
                 for i, m in enumerate(mains * 50)]

    bad = [entry for model in mains for entry in listed_bad(model, base)]
    listed = len(bad)
    bad += generated_bad(mains[0], base, 1200, seed=13) + generated_bad(mains[1], base, 800, seed=14)

    # The stream: each model's first valid events come first (they start its clock), the rest
    # shuffled with the bad, the duplicates and the strangers. Predictions before feedback.
    head = [("p", k, r) for _m, k, r in valid_p[:50]] + [("p", k, r) for _m, k, r in valid_p[N:N + 50]]
    rest_p = [("p", k, r) for _m, k, r in valid_p[50:N] + valid_p[N + 50:]]
    mixed = rest_p + bad + duplicates
    rng.shuffle(mixed)
    labels = [("f", k, r) for _m, k, r in valid_f] + strangers
    rng.shuffle(labels)
    stream = head + mixed + labels
    bad_ids = {id(b[2]) for b in bad}
    is_bad = [id(raw) in bad_ids for _w, _k, raw in stream]
    assert sum(is_bad) == len(bad)

    with run_roles(s, ["monitor"], tmp_path / "logs") as procs:
        pid = procs["monitor"].pid
        where = sent_at(kafka_bootstrap, [(topic_of[w], k, r) for w, k, r in stream])
        expected_dead = {at for at, b in zip(where, is_bad) if b}
        valid_ids = {decode_prediction(r).event_id for _m, _k, r in valid_p}

        labeled = read(kafka_bootstrap, t.labeled, timeout_s=60,
                       until=lambda rs: len({r.value for r in rs}) >= len(valid_ids))
        got = [decode_labeled(r.value).event_id for r in labeled]
        assert sorted(got) == sorted(valid_ids)  # each once: the duplicates were dropped

        dead = read(kafka_bootstrap, t.dead_letter, timeout_s=30, until=lambda rs: len(rs) >= len(expected_dead))
        # A tail of valid predictions of each model after everything else: their metrics
        # snapshot counts everything before them.
        tail = [(t.predictions, m.encode(), dumps(prediction(m, 20_000 + i, base + 10 * N + i)))
                for m in mains for i in range(5)]
        sent_at(kafka_bootstrap, tail)
        want = {m: N + 5 + (1 if m == mains[0] else 0) for m in mains}
        metrics = read(kafka_bootstrap, t.metrics, timeout_s=30, until=lambda rs: all(
            (_latest_metrics(rs, m) or _NONE).n_predictions >= want[m] for m in mains))
        dead = read_to_end(kafka_bootstrap, t.dead_letter)
        alive = procs["monitor"].poll() is None and procs["monitor"].pid == pid
        log_text = (tmp_path / "logs" / "monitor.log").read_text()

    letters = [decode_dead_letter(r.value) for r in dead]
    at = {(d.source_topic, d.partition, d.offset): d for d in letters}
    assert len(at) == len(letters), "a message was dead-lettered twice"
    assert set(at) == expected_dead, (len(set(at) - expected_dead), len(expected_dead - set(at)))
    assert all(d.error.strip() for d in letters)
    assert not [d.error for d in letters if "the monitor failed" in d.error]
    assert "failed and starts afresh" not in log_text and "Traceback" not in log_text, log_text[-3000:]
    assert alive, log_text[-3000:]

    key_of = {at: k for at, (_w, k, _r) in zip(where, stream)}
    for m in mains:
        last = _latest_metrics(metrics, m)
        assert last.n_predictions == want[m]
        assert last.n_labeled == N + (1 if m == mains[0] else 0)
        assert last.n_invalid == sum(key_of[a] == m.encode() for a in expected_dead)
    elapsed = time.monotonic() - started
    print(f"\nsent {len(stream) + len(tail)}: valid {len(valid_p) + len(valid_f) + len(tail)}, "
          f"duplicates {len(duplicates)}, feedback for unknown predictions {len(strangers)}, "
          f"invalid {len(bad)} ({listed} listed, {len(bad) - listed} generated); "
          f"dead-lettered {len(letters)}; labeled {len(got)} of {len(valid_ids)}; "
          f"worker crashes 0, restarts 0; {elapsed:.0f} s")
    assert elapsed < 60

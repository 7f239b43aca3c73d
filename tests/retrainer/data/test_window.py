"""Reading a model's labeled window back from Kafka (real broker)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from kafka import KafkaProducer

from driftline.contract import Topics
from driftline.retrainer.exceptions import WindowInterrupted
from driftline.retrainer.data.window import read_window
from driftline.settings import Settings
from tests.retrainer.kafka_helpers import publish
from tests.retrainer.streams import labeled_events

pytestmark = pytest.mark.broker

SINCE = 1_700_000_000_000


def test_reads_the_models_examples_since_the_drift_point(
        kafka_settings: Settings, producer_factory: Callable[[], KafkaProducer]) -> None:
    topic = Topics(kafka_settings.topic_prefix).labeled
    producer = producer_factory()
    before = labeled_events("sea", 50, start_ts=SINCE - 1_000, prefix="old")
    after = labeled_events("sea", 120, start_ts=SINCE)
    publish(producer, topic, before + after[:100])
    # The reader must not rely on key partitioning: these go elsewhere by hand.
    publish(producer, topic, after[100:110], partition=1)
    publish(producer, topic, after[110:], partition=2)
    publish(producer, topic, after[:20])  # redelivered duplicates
    publish(producer, topic, labeled_events("sea", 40, model_id="other", start_ts=SINCE))
    producer.send(topic, key=b"m", value=b"{broken").get(timeout=30)

    events, window = read_window(kafka_settings.replace(min_train_examples=10), "m", SINCE)
    assert sorted(ev.event_id for ev in events) == sorted(ev.event_id for ev in after)
    assert window["topic"] == topic and window["since_ts"] == SINCE
    assert window["until_ts"] == SINCE + 119 and window["n_examples"] == 120 and window["n_invalid"] == 1
    assert set(window["offsets"]) == {"0", "1", "2"}
    # The 50 older examples are skipped by seeking, not read and dropped.
    assert sum(o["start"] for o in window["offsets"].values()) == 50
    assert all(o["end"] >= o["start"] for o in window["offsets"].values())


def test_stops_at_max_train_examples(
        kafka_settings: Settings, producer_factory: Callable[[], KafkaProducer]) -> None:
    publish(producer_factory(), Topics(kafka_settings.topic_prefix).labeled,
            labeled_events("sea", 300, start_ts=SINCE))
    events, window = read_window(kafka_settings.replace(min_train_examples=10, max_train_examples=120),
                                 "m", SINCE)
    assert len(events) == 120 == window["n_examples"]
    assert [ev.ts for ev in events] == list(range(SINCE, SINCE + 120))  # from the drift point on


def test_waits_for_late_labels(kafka_settings: Settings,
                               producer_factory: Callable[[], KafkaProducer]) -> None:
    topic = Topics(kafka_settings.topic_prefix).labeled
    producer = producer_factory()
    events = labeled_events("sea", 200, start_ts=SINCE)
    publish(producer, topic, events[:50])
    later = threading.Timer(1.0, publish, args=(producer, topic, events[50:]))
    later.start()
    try:
        started = time.monotonic()
        got, _ = read_window(kafka_settings.replace(min_train_examples=150, retrain_wait_s=20), "m", SINCE)
        assert len(got) == 200 and time.monotonic() - started < 15
    finally:
        later.join()


def test_gives_up_after_retrain_wait_s(kafka_settings: Settings,
                                       producer_factory: Callable[[], KafkaProducer]) -> None:
    publish(producer_factory(), Topics(kafka_settings.topic_prefix).labeled,
            labeled_events("sea", 30, start_ts=SINCE))
    started = time.monotonic()
    got, window = read_window(kafka_settings.replace(min_train_examples=100, retrain_wait_s=1.0), "m", SINCE)
    assert len(got) == 30 == window["n_examples"]
    assert 1.0 <= time.monotonic() - started < 10


def test_a_stop_while_waiting_is_not_a_short_window(kafka_settings: Settings) -> None:
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    with pytest.raises(WindowInterrupted, match="0 of 100"):
        read_window(kafka_settings.replace(min_train_examples=100, retrain_wait_s=30), "m", SINCE, stop=stop)
    timer.join()


def test_reads_only_committed_transactions_and_each_event_once(
        kafka_settings: Settings, kafka_bootstrap: str) -> None:
    """A monitor writing labeled in transactions: aborted ones are never read, redelivered ones once."""
    topic = Topics(kafka_settings.topic_prefix).labeled
    events = labeled_events("sea", 120, start_ts=SINCE)
    aborted = labeled_events("sea", 30, start_ts=SINCE + 500, prefix="aborted")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"tx-{topic}",
                             acks="all", enable_idempotence=True)
    try:
        producer.init_transactions()
        producer.begin_transaction()
        publish(producer, topic, events[:80])
        producer.commit_transaction()
        producer.begin_transaction()
        publish(producer, topic, aborted)
        producer.abort_transaction()
        producer.begin_transaction()
        # The second half, and the first 40 again: a monitor that restarted before its commit.
        publish(producer, topic, events[80:] + events[:40])
        producer.commit_transaction()
    finally:
        producer.close()

    got, window = read_window(kafka_settings.replace(min_train_examples=10, retrain_wait_s=0), "m", SINCE)
    assert sorted(ev.event_id for ev in got) == sorted(ev.event_id for ev in events)
    assert window["n_examples"] == 120
    # The reader reached the end of every partition, past the transaction markers.
    assert sum(o["end"] - o["start"] for o in window["offsets"].values()) >= 120 + 40

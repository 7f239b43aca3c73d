from __future__ import annotations

import socket
import time

import pytest
from kafka.admin import NewTopic

from driftline.contract import decode_feedback, decode_prediction
from driftline.exceptions import BrokerUnavailable
from driftline.producers.exceptions import EventTooLarge, PublishError
from driftline.producers.publisher import EventPublisher, feedback_event, predict_event
from driftline.settings import Settings

from .conftest import read_topic


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_broker_is_one_clear_error_quickly() -> None:
    port = unused_port()
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as info:
        EventPublisher(Settings(kafka_bootstrap=f"127.0.0.1:{port}"))
    assert time.monotonic() - started < 3
    message = str(info.value)
    assert message.startswith(f"no Kafka broker answered at 127.0.0.1:{port}")
    assert "\n" not in message


@pytest.mark.broker
def test_round_trip_of_predictions_and_feedback(settings: Settings, topics) -> None:
    predictions = [
        predict_event(
            "fraud" if i % 2 else "churn", "3", {"amount": 12.5 * i, "country": "NL", "n": i}, i % 2,
            scores={"0": 0.25, "1": 0.75} if i % 3 == 0 else None, ts=1_700_000_000_000 + i,
        )
        for i in range(20)
    ]
    feedback = [feedback_event(p.event_id, p.model_id, 1, ts=p.ts + 5000) for p in predictions[:7]]
    with EventPublisher(settings) as publisher:
        for event in [*predictions, *feedback]:
            publisher.publish(event)

    got = read_topic(settings, topics.predictions, len(predictions))
    assert sorted((decode_prediction(r.value) for r in got), key=lambda p: p.ts) == predictions
    assert all(r.key == decode_prediction(r.value).model_id.encode() for r in got)
    # One model, one partition: its events stay in order.
    fraud = [r for r in got if r.key == b"fraud"]
    assert len({r.partition for r in fraud}) == 1
    assert [r.offset for r in fraud] == sorted(r.offset for r in fraud)
    assert [decode_prediction(r.value).ts for r in fraud] == sorted(decode_prediction(r.value).ts for r in fraud)

    got = read_topic(settings, topics.feedback, len(feedback))
    assert sorted((decode_feedback(r.value) for r in got), key=lambda f: f.ts) == feedback
    assert all(r.key == decode_feedback(r.value).model_id.encode() for r in got)


@pytest.mark.broker
def test_publish_raw_sends_bytes_as_they_are(settings: Settings, topics) -> None:
    with EventPublisher(settings) as publisher:
        publisher.publish_raw(topics.predictions, None, b"\xff not json")
        publisher.publish_raw(topics.predictions, b"fraud", b'{"event_id": 1}')
    got = read_topic(settings, topics.predictions, 2)
    assert sorted((r.key, r.value) for r in got if r.key) == [(b"fraud", b'{"event_id": 1}')]
    assert [r.value for r in got if r.key is None] == [b"\xff not json"]


@pytest.mark.broker
def test_an_event_over_the_message_limit_is_refused(settings: Settings, topics) -> None:
    with EventPublisher(settings.replace(max_message_bytes=300)) as publisher:
        with pytest.raises(EventTooLarge, match="over max_message_bytes"):
            publisher.publish(predict_event("fraud", "1", {f"f{i}": i for i in range(100)}, 0))


@pytest.mark.broker
def test_closed_publisher_refuses_events_and_closes_once(settings: Settings, topics) -> None:
    publisher = EventPublisher(settings)
    publisher.close()
    publisher.close()
    with pytest.raises(PublishError, match="closed"):
        publisher.publish(predict_event("fraud", "1", {}, 0))


@pytest.mark.broker
def test_only_contract_events_have_a_topic(settings: Settings, topics) -> None:
    with EventPublisher(settings) as publisher:
        with pytest.raises(TypeError, match="not a contract event: dict"):
            publisher.publish({"model_id": "fraud"})  # type: ignore[arg-type]


@pytest.mark.broker
def test_records_the_broker_refuses_are_reported_by_flush(settings: Settings, admin) -> None:
    topic = f"{settings.topic_prefix}small"
    admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "1000"})])
    try:
        publisher = EventPublisher(settings)
        try:
            publisher.publish_raw(topic, b"fraud", b"x" * 5000)
            with pytest.raises(PublishError, match="1 records were not delivered"):
                publisher.flush(timeout=20)
            publisher.publish_raw(topic, b"fraud", b"small enough")
            publisher.flush(timeout=20)  # the failure was reported once; the publisher goes on
        finally:
            publisher.close()
        assert [r.value for r in read_topic(settings, topic, 1)] == [b"small enough"]
    finally:
        admin.delete_topics([topic])

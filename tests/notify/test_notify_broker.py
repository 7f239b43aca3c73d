"""driftline notify on a real broker, delivering to local HTTP receivers."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid

import pytest

from driftline.contract import Alert, Topics, decode_dead_letter
from driftline.notify.formats import SIGNATURE_HEADER
from driftline.notify.worker import NotifyWorker
from tests.integration.kafka_io import at_least, produce, read
from tests.notify.http_receiver import HttpReceiver, free_port

pytestmark = pytest.mark.broker

SECRET = "s3cret-s3cret-s3cret"


def alert(i: int, episode: str | None = None, status: str = "firing", model_id: str = "fraud") -> Alert:
    return Alert(alert_id=uuid.uuid4().hex, model_id=model_id, model_version="3", kind="data_drift",
                 severity="warning", detector="ks", feature=f"x{i}", value=0.3 + i / 100, threshold=0.2,
                 event_ts=1732356000123 + i, ts=int(time.time() * 1000), message=f"x{i} moved",
                 episode_id=episode or f"ep{i}", status=status)


def send(settings, alerts: list[Alert]) -> None:
    produce(settings.kafka_bootstrap, Topics(settings.topic_prefix).alerts,
            [(a.key, a.encode()) for a in alerts])


class Running:
    """A notify worker in a thread, ready (partitions assigned) when entered."""

    def __init__(self, settings) -> None:
        self.worker = NotifyWorker(settings)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.worker.run(self.stop)
        except BaseException as exc:  # shown by __exit__
            self.error = exc

    def __enter__(self) -> NotifyWorker:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.worker.ready and time.monotonic() < deadline and self.thread.is_alive():
            time.sleep(0.1)
        assert self.worker.ready, f"notify never got its partitions ({self.error!r})"
        return self.worker

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


def test_webhook_and_slack_get_each_episode_status_once_signed_and_readable(notify_settings):
    with HttpReceiver() as hook, HttpReceiver() as slack:
        s = notify_settings(notify_webhook_url=hook.url + "/hook", notify_webhook_secret=SECRET,
                            notify_slack_url=slack.url + "/services/T/B/X")
        a, b = alert(1), alert(2)
        repeat = Alert(**{**a.to_dict(), "alert_id": "again"})  # the same episode and status again
        resolved = Alert(**{**a.to_dict(), "alert_id": "r1", "status": "resolved"})
        with Running(s) as worker:
            send(s, [a, repeat, b, resolved])
            hooked = hook.wait_for(3)
            slacked = slack.wait_for(3)
            time.sleep(1.0)  # a fourth would come by now
        assert len(hook.received) == 3 and len(slack.received) == 3
        for got in hooked:
            expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
            assert got.headers[SIGNATURE_HEADER] == expected
            assert got.path == "/hook"
        by_id = {got.json["alert_id"] for got in hooked}
        assert by_id == {a.alert_id, b.alert_id, "r1"}
        assert [g.json["status"] for g in hooked if g.json["episode_id"] == "ep1"] == ["firing", "resolved"]
        texts = [g.json["text"] for g in slacked]
        assert any("WARNING" in t and "`x1`" in t and "ks = 0.31" in t and "threshold 0.2" in t for t in texts)
        assert any(t.startswith(":white_check_mark: *RESOLVED* fraud v3") for t in texts)
        assert worker.stats["webhook"]["duplicates"] == 1


def test_a_refused_delivery_goes_to_dead_letter_with_the_answer_and_others_still_get_it(notify_settings):
    with HttpReceiver(answer=lambda r: (400, b"invalid_payload: no text")) as slack, HttpReceiver() as hook:
        s = notify_settings(notify_slack_url=slack.url, notify_webhook_url=hook.url)
        a = alert(1)
        with Running(s):
            send(s, [a])
            assert len(hook.wait_for(1)) == 1
            records = read(s.kafka_bootstrap, Topics(s.topic_prefix).dead_letter, until=at_least(1))
        letter = decode_dead_letter(records[0].value)
        assert letter.source_topic == Topics(s.topic_prefix).alerts
        assert "slack refused the delivery: HTTP 400: invalid_payload: no text" in letter.error
        assert letter.raw_bytes == a.encode() and letter.key == b"fraud"


def test_a_message_that_is_no_alert_goes_to_dead_letter(notify_settings):
    with HttpReceiver() as hook:
        s = notify_settings(notify_webhook_url=hook.url)
        with Running(s):
            produce(s.kafka_bootstrap, Topics(s.topic_prefix).alerts, [(b"fraud", b'{"alert_id": 1}')])
            send(s, [alert(1)])
            assert len(hook.wait_for(1)) == 1
            records = read(s.kafka_bootstrap, Topics(s.topic_prefix).dead_letter, until=at_least(1))
        assert "not a valid alert" in decode_dead_letter(records[0].value).error


def test_a_receiver_down_for_a_while_gets_every_alert_once_it_is_back(notify_settings):
    port = free_port()
    s = notify_settings(notify_webhook_url=f"http://127.0.0.1:{port}/hook")
    alerts = [alert(i) for i in range(6)]
    with Running(s) as worker:
        send(s, alerts)
        time.sleep(4.0)  # several attempts fail meanwhile
        assert worker.stats["webhook"]["retries"] >= 2
        with HttpReceiver(port=port) as hook:
            got = hook.wait_for(6, timeout_s=60)
    assert sorted(g.json["alert_id"] for g in got) == sorted(a.alert_id for a in alerts)


def test_offsets_are_committed_only_after_delivery(notify_settings):
    port = free_port()
    s = notify_settings(notify_webhook_url=f"http://127.0.0.1:{port}/hook")
    alerts = [alert(i) for i in range(4)]
    with Running(s):
        send(s, alerts)
        time.sleep(2.0)  # read, not delivered: the receiver is down
    # A new worker in the same group reads them again, and delivers them now.
    with HttpReceiver(port=port) as hook:
        with Running(s):
            got = hook.wait_for(4, timeout_s=60)
    assert sorted(g.json["alert_id"] for g in got) == sorted(a.alert_id for a in alerts)

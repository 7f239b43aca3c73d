"""A receiver's lane without a broker: retries, refusals, dedup, and what it marks done."""

from __future__ import annotations

import threading
import time

from driftline.contract import Alert
from driftline.notify.delivery import Item, Lane, Offsets
from driftline.notify.formats import alertmanager_alerts
from driftline.notify.receivers import Answer, Receiver


class Scripted(Receiver):
    """Answers in the order given, then delivered."""

    name = "scripted"

    def __init__(self, answers: list[Answer]) -> None:
        super().__init__("http://unused")
        self.answers = list(answers)
        self.calls = 0

    def deliver(self, alert, raw):
        self.calls += 1
        return self.answers.pop(0) if self.answers else Answer(True, False, "HTTP 200")


def alert(episode="e1", status="firing", severity="warning") -> Alert:
    return Alert(alert_id=f"{episode}-{status}", model_id="m", model_version="1", kind="concept_drift",
                 severity=severity, detector="adwin", feature=None, value=0.1, threshold=0.05,
                 event_ts=1, ts=1000, message="error rate up", episode_id=episode, status=status)


def run_lane(receiver: Receiver, items: list[Item], give_up_s: float = 30.0):
    offsets, dead, stop = Offsets(), [], threading.Event()
    lane = Lane(receiver, offsets, lambda item, why: dead.append((item.offset, why)) or True, stop,
                rate_per_minute=60_000, give_up_s=give_up_s)
    for it in items:
        offsets.add(it.partition, it.offset, lanes=1)
        lane.queue.put(it)
    lane.start()
    deadline = time.monotonic() + 20
    while offsets.committable().get(("a", 0)) != items[-1].offset + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    lane.join(5)
    return lane, offsets, dead


def item(offset: int, a: Alert) -> Item:
    return Item(("a", 0), offset, a, a.encode(), b"m")


def test_retries_until_delivered_then_marks_done():
    r = Scripted([Answer(False, True, "no answer"), Answer(False, True, "HTTP 503")])
    lane, offsets, dead = run_lane(r, [item(0, alert())])
    assert r.calls == 3 and lane.stats["retries"] == 2 and not dead
    assert offsets.committable() == {("a", 0): 1}


def test_a_refusal_is_a_dead_letter_with_the_answer_and_the_next_alert_goes_on():
    r = Scripted([Answer(False, False, "HTTP 400: bad")])
    lane, offsets, dead = run_lane(r, [item(0, alert("e1")), item(1, alert("e2"))])
    assert dead == [(0, "scripted refused the delivery: HTTP 400: bad")]
    assert lane.stats["delivered"] == 1 and offsets.committable() == {("a", 0): 2}


def test_failing_past_the_give_up_time_is_a_dead_letter():
    r = Scripted([Answer(False, True, "HTTP 502")] * 100)
    lane, offsets, dead = run_lane(r, [item(0, alert())], give_up_s=0.3)
    assert len(dead) == 1 and "gave up" in dead[0][1] and "HTTP 502" in dead[0][1]


def test_an_episode_status_seen_is_not_sent_again_but_its_resolution_is():
    r = Scripted([])
    lane, _, _ = run_lane(r, [item(0, alert()), item(1, alert()), item(2, alert(status="resolved"))])
    assert r.calls == 2 and lane.stats["duplicates"] == 1


def test_a_resolved_alert_ends_both_severities_of_its_episode_in_alertmanager():
    body = alertmanager_alerts(alert(status="resolved"), firing_ttl_s=60)
    assert {b["labels"]["severity"] for b in body} == {"warning", "critical"}
    assert all(b["endsAt"] == b["startsAt"] and b["labels"]["episode_id"] == "e1" for b in body)
    assert "feature" not in body[0]["labels"]

"""A service publishing at a steady rate through ``EventPublisher``, and what the topics must hold after.

:class:`PacedPublisher` runs in a thread: predictions for a few models, each
with its feedback a little later, a fixed number per second. It records the
event id of every prediction the broker acknowledged (``acks=all``) and of
every one it reported as failed, so that a fault test can compare what the
publisher was told with what the predictions topic and the monitor's metrics hold.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter, defaultdict

from driftline.contract import Topics, decode_dead_letter, decode_metrics, decode_prediction
from driftline.producers.events import feedback_event, predict_event
from driftline.producers.publisher import EventPublisher
from driftline.settings import Settings
from tests.integration.kafka_io import read_to_end, wait_committed

FEEDBACK_LAG = 20  # a prediction's feedback is sent this many predictions later


class PacedPublisher(threading.Thread):
    """Publishes ``total`` predictions (and feedback for each) at ``per_s`` predictions a second."""

    def __init__(self, settings: Settings, models: list[str], total: int, per_s: float) -> None:
        super().__init__(daemon=True)
        self.settings, self.models, self.total, self.per_s = settings, models, total, per_s
        self.acked: dict[str, str] = {}  # prediction event id -> model, once acknowledged
        self.failed: set[str] = set()  # prediction event ids the publisher reported as not delivered
        self.sent = 0  # predictions handed to publish()
        self.feedback_acked = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            with EventPublisher(self.settings, client_id="paced", max_block_ms=60_000) as pub:
                started = time.monotonic()
                waiting: list = []
                for i in range(self.total):
                    if self.stop.is_set():
                        break
                    model = self.models[i % len(self.models)]
                    ev = predict_event(model, "1", {"x": float(i % 11), "y": float((i * 7) % 5)}, i % 2)
                    self._publish(pub, ev, prediction=True)
                    waiting.append(ev)
                    if len(waiting) > FEEDBACK_LAG:
                        done = waiting.pop(0)
                        self._publish(pub, feedback_event(done.event_id, done.model_id, i % 2),
                                      prediction=False)
                    self.sent = i + 1
                    ahead = started + self.sent / self.per_s - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
                for done in waiting:
                    self._publish(pub, feedback_event(done.event_id, done.model_id, 1), prediction=False)
                try:
                    pub.flush(timeout=180)
                except Exception:  # the failed records are counted one by one in self.failed
                    pass
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _publish(self, pub: EventPublisher, ev, *, prediction: bool) -> None:
        future = pub.publish(ev)
        if prediction:
            future.add_callback(lambda _md, eid=ev.event_id, m=ev.model_id: self.acked.__setitem__(eid, m))
            future.add_errback(lambda _exc, eid=ev.event_id: self.failed.add(eid))
        else:
            future.add_callback(lambda _md: self._feedback_done())

    def _feedback_done(self) -> None:
        self.feedback_acked += 1

    def wait_for(self, predictions: int, timeout_s: float) -> None:
        """Wait until ``predictions`` predictions are acknowledged."""
        deadline = time.monotonic() + timeout_s
        while len(self.acked) < predictions:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"only {len(self.acked)} of {predictions} acknowledged"
            time.sleep(0.05)


@dataclasses.dataclass
class Tally:
    """The figures a fault test reports."""

    sent: int
    acknowledged: int
    failed: int
    on_topic: int  # distinct prediction ids on the topic
    lost: int  # acknowledged, not on the topic
    duplicated: int  # ids on the topic more than once
    counted: int  # the sum of the monitor's last n_predictions over the models
    labeled: int  # the sum of the monitor's last n_labeled
    counted_by_model: dict[str, int]

    def row(self, name: str) -> str:
        return (f"{name}: sent {self.sent}, acknowledged {self.acknowledged}, failed {self.failed}, "
                f"on topic {self.on_topic}, lost {self.lost}, duplicated {self.duplicated}, "
                f"monitor counted {self.counted} (labeled {self.labeled})")


def wait_monitor_done(settings: Settings, alive, timeout_s: float = 120.0) -> None:
    """Wait until the monitor's group has committed the end of the predictions and feedback topics."""
    t = Topics(settings.topic_prefix)
    group = f"{settings.topic_prefix}monitor"
    for topic in (t.predictions, t.feedback):
        assert wait_committed(settings.kafka_bootstrap, group, topic, timeout_s=timeout_s,
                              give_up=lambda: not alive()), f"the monitor did not commit {topic} to its end"


def tally(settings: Settings, pub: PacedPublisher) -> Tally:
    """Read the predictions and metrics topics back and compare them with what ``pub`` was told."""
    t = Topics(settings.topic_prefix)
    ids = Counter(decode_prediction(r.value).event_id
                  for r in read_to_end(settings.kafka_bootstrap, t.predictions, timeout_s=120))
    last: dict[str, object] = {}
    metrics = sorted(read_to_end(settings.kafka_bootstrap, t.metrics, timeout_s=120),
                     key=lambda r: (r.partition, r.offset))
    for r in metrics:  # one partition per model: offset order is the order written
        m = decode_metrics(r.value)
        last[m.model_id] = m
    return Tally(sent=pub.sent, acknowledged=len(pub.acked), failed=len(pub.failed), on_topic=len(ids),
                 lost=len(set(pub.acked) - set(ids)), duplicated=sum(1 for n in ids.values() if n > 1),
                 counted=sum(m.n_predictions for m in last.values()),
                 labeled=sum(m.n_labeled for m in last.values()),
                 counted_by_model={k: m.n_predictions for k, m in last.items()})


def dead_letters(settings: Settings) -> Counter:
    """How many records the dead-letter topic holds, by source topic and the start of the reason."""
    t = Topics(settings.topic_prefix)
    found: Counter = Counter()
    for r in read_to_end(settings.kafka_bootstrap, t.dead_letter, timeout_s=120):
        letter = decode_dead_letter(r.value)
        found[(letter.source_topic, letter.error[:120])] += 1
    return found


def acknowledged_by_model(pub: PacedPublisher) -> dict[str, int]:
    by_model: dict[str, int] = defaultdict(int)
    for model in pub.acked.values():
        by_model[model] += 1
    return dict(by_model)


"""The ``driftline notify`` worker: the alerts topic in, deliveries out, offsets after delivery.

One consumer in group ``<prefix>notify`` reads the alerts; every receiver
configured gets each alert in its own lane (:mod:`driftline.notify.delivery`).
An offset is committed once every lane is done with every alert before it, so
a worker stopped or killed mid-way delivers the rest after its restart (a
receiver may then see an alert twice; Alertmanager folds repeats itself). A
fresh group starts at the end of the topic: a new deployment does not page
for alerts of the past. A message that is not a valid alert goes to
dead-letter; so does an alert a receiver refuses or keeps failing on.
"""

from __future__ import annotations

import logging
import threading
import time

from kafka import ConsumerRebalanceListener

from driftline.contract import DeadLetter, InvalidEvent, Topics, decode_alert
from driftline.exceptions import SettingsError
from driftline.notify.delivery import Item, Lane, Offsets, describe
from driftline.notify.receivers import AlertmanagerReceiver, Receiver, SlackReceiver, WebhookReceiver
from driftline.settings import ENV, Settings

log = logging.getLogger("driftline.notify")


def receivers_from(settings: Settings) -> list[Receiver]:
    """The receivers the settings name; raise :class:`SettingsError` if none, or a secret is unreadable."""
    s = settings
    out: list[Receiver] = []
    if s.notify_alertmanager_url:
        out.append(AlertmanagerReceiver(s.notify_alertmanager_url, s.notify_timeout_s, s.notify_firing_ttl_s))
    if s.notify_webhook_url:
        out.append(WebhookReceiver(s.notify_webhook_url, s.notify_webhook_secret.reveal(), s.notify_timeout_s))
    if s.notify_slack_url:
        out.append(SlackReceiver(s.notify_slack_url.reveal(), s.notify_timeout_s))
    if not out:
        raise SettingsError(f"no receiver configured: set {ENV['notify_alertmanager_url']}, "
                            f"{ENV['notify_webhook_url']} or {ENV['notify_slack_url']}")
    return out


class NotifyWorker:
    """Deliver alerts until ``stop`` is set: ``NotifyWorker(settings).run(stop)``."""

    def __init__(self, settings: Settings, receivers: list[Receiver] | None = None,
                 exporter=None, commit_every_s: float = 0.5) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.group_id = f"{settings.topic_prefix}notify"
        self.receivers = receivers if receivers is not None else receivers_from(settings)
        self.exporter = exporter
        self.commit_every_s = commit_every_s
        self.offsets = Offsets()
        self.ready = False
        self._stop = threading.Event()
        self._producer = None
        self._consumer = None
        self._committed: dict[tuple[str, int], int] = {}
        on_result = None if exporter is None else exporter.observe_notification
        refresh = settings.notify_firing_ttl_s / 3
        self.lanes = [Lane(r, self.offsets, self._dead_letter, self._stop, settings.notify_rate_per_minute,
                           settings.notify_give_up_s, refresh_s=refresh if r.name == "alertmanager" else None,
                           on_result=on_result) for r in self.receivers]

    @property
    def stats(self) -> dict:
        return describe(self.lanes)

    def run(self, stop: threading.Event) -> None:
        from kafka import KafkaConsumer, KafkaProducer

        s = self.settings
        self._producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all", retries=5,
                                       max_request_size=max(s.max_message_bytes * 2, 1_048_576))
        self._consumer = KafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap, group_id=self.group_id, enable_auto_commit=False,
            auto_offset_reset="latest",
            # A lane may wait on its receiver for a long time; the poll loop goes on regardless.
            max_poll_interval_ms=300_000, session_timeout_ms=10_000, heartbeat_interval_ms=3_000)
        self._consumer.subscribe([self.topics.alerts], listener=_Revoked(self))
        for lane in self.lanes:
            lane.start()
        last_commit = time.monotonic()
        try:
            while not stop.is_set():
                self._backpressure()
                got = self._consumer.poll(timeout_ms=200, max_records=200)
                if not self.ready and self._consumer.assignment():
                    for tp in self._consumer.assignment():
                        self._consumer.position(tp)  # the start, fixed before readiness is told
                    self.ready = True
                for tp, records in got.items():
                    for rec in records:
                        self._take((tp.topic, tp.partition), rec)
                if time.monotonic() - last_commit >= self.commit_every_s:
                    self._commit()
                    last_commit = time.monotonic()
        finally:
            self._stop.set()
            for lane in self.lanes:
                lane.join(timeout_s=10)
            try:
                self._commit()
            finally:
                self._consumer.close()
                self._producer.close(timeout=10)
        log.info("notify stopped: %s", self.stats)

    def _take(self, partition: tuple[str, int], rec) -> None:
        try:
            alert = decode_alert(rec.value, self.settings.max_message_bytes)
        except InvalidEvent as exc:
            self.offsets.add(partition, rec.offset, lanes=1)
            item = Item(partition, rec.offset, None, rec.value, rec.key)  # type: ignore[arg-type]
            if self._dead_letter(item, f"not a valid alert: {exc}"):
                self.offsets.finish(partition, rec.offset)
            return
        item = Item(partition, rec.offset, alert, rec.value, rec.key)
        self.offsets.add(partition, rec.offset, lanes=len(self.lanes))
        for lane in self.lanes:
            lane.queue.put(item)

    def _backpressure(self) -> None:
        assigned = self._consumer.assignment()
        if not assigned:
            return
        if any(lane.full for lane in self.lanes):
            self._consumer.pause(*assigned)
        elif self._consumer.paused():
            self._consumer.resume(*self._consumer.paused())

    def _commit(self, only: set[tuple[str, int]] | None = None) -> None:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        todo = {p: o for p, o in self.offsets.committable().items()
                if o > self._committed.get(p, -1) and (only is None or p in only)}
        if not todo:
            return
        try:
            self._consumer.commit({TopicPartition(*p): OffsetAndMetadata(o, "", -1) for p, o in todo.items()})
        except Exception as exc:  # a rebalance: the next owner reads from the last commit again
            log.warning("offsets not committed: %r", exc)
            return
        self._committed.update(todo)

    def _dead_letter(self, item: Item, reason: str) -> bool:
        """Send one alert to dead-letter with the reason; False if stopped before it was acknowledged."""
        topic, partition = item.partition
        letter = DeadLetter.of(topic, partition, item.offset, reason, item.raw, _now_ms(), item.key,
                               max_raw_bytes=self.settings.max_message_bytes // 2)
        attempt = 0
        while True:
            try:
                self._producer.send(self.topics.dead_letter, key=letter.key, value=letter.encode()).get(timeout=30)
                if self.exporter is not None:
                    self.exporter.observe_dead_letter(reason)
                return True
            except Exception as exc:
                attempt += 1
                log.error("dead letter not written (attempt %d): %r", attempt, exc)
                if self._stop.wait(min(2 ** attempt, 30)):
                    return False


class _Revoked(ConsumerRebalanceListener):
    """Commit what is done before partitions move to another worker."""

    def __init__(self, worker: NotifyWorker) -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked) -> None:
        parts = {(tp.topic, tp.partition) for tp in revoked}
        self.worker._commit(only=parts)
        self.worker.offsets.forget(parts)
        for p in parts:
            self.worker._committed.pop(p, None)

    def on_partitions_assigned(self, assigned) -> None:
        pass


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def run(settings: Settings, stop: threading.Event) -> None:
    """``driftline notify``: serve /metrics on DRIFTLINE_HTTP_PORT and deliver until ``stop``."""
    from driftline.observe.worker import observed

    receivers = receivers_from(settings)
    worker = NotifyWorker(settings, receivers)
    with observed(settings, ready=lambda: worker.ready) as exporter:
        worker.exporter = exporter
        for lane in worker.lanes:
            lane.on_result = exporter.observe_notification
        log.warning("notify: delivering %s to %s", worker.topics.alerts,
                    ", ".join(r.name for r in receivers))
        worker.run(stop)

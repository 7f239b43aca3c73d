"""``driftline demo``: the whole loop on a real broker, with a summary at the end.

It starts a local broker if none answers, a monitor and a retrainer as child
processes, and runs the simulated service in this process on a stream with
known drift points, printing what happens as it happens. The summary says
where each drift was, when it was detected, which version replaced the model
and what accuracy the service had before the drift, after it, and after the
new version went live. Exit status 0 means the loop closed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import IO, Any

from driftline.contract import (
    Alert, InvalidEvent, ModelVersion, RetrainRequest, Topics, decode_alert,
    decode_model_version, decode_retrain_request,
)
from driftline.processes import run_roles
from driftline.settings import ENV, Settings

# Defaults the demo gives its workers unless the environment sets them: the stream
# runs in event time at about 1,000 events/s, so ten minutes of cooldown would be
# the whole demo.
DEMO_ENV = {
    "retrain_cooldown_ms": "30000",
    "retrain_wait_s": "60",
    "metrics_every": "2000",
    "batch_within_s": "0.2",
}


class Console:
    """Serialises lines from the service loop and the topic follower."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self._lock = threading.Lock()

    def say(self, line: str) -> None:
        with self._lock:
            print(line, file=self.out, flush=True)


@dataclasses.dataclass
class Seen:
    """One event from a followed topic, with the stream index its event time maps to."""

    index: int | None
    event: Any


class Follower(threading.Thread):
    """Follows alerts, retrain requests and model versions of one model from now on."""

    def __init__(self, settings: Settings, model_id: str, console: Console,
                 index_of_ts: Any) -> None:
        super().__init__(name="demo-follower", daemon=True)
        from kafka import KafkaConsumer, TopicPartition

        from driftline.kafka.clients import connect

        self.model_id = model_id
        self.console = console
        self.index_of_ts = index_of_ts
        self.alerts: list[Seen] = []
        self.requests: list[Seen] = []
        self.versions: list[Seen] = []
        self._halt = threading.Event()
        t = Topics(settings.topic_prefix)
        self._decoders = {t.alerts: decode_alert, t.retrain_requests: decode_retrain_request,
                          t.model_versions: decode_model_version}
        self.consumer = connect(KafkaConsumer, settings, client_id="driftline-demo", group_id=None,
                                enable_auto_commit=False)
        parts = [TopicPartition(name, p) for name in self._decoders
                 for p in sorted(self.consumer.partitions_for_topic(name) or [])]
        self.consumer.assign(parts)
        self.consumer.seek_to_end(*parts)
        for tp in parts:  # pin the positions now, before the service publishes anything
            self.consumer.position(tp)

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                for tp, records in self.consumer.poll(timeout_ms=200).items():
                    for rec in records:
                        self._on(tp.topic, rec.value)
        finally:
            self.consumer.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)

    def _on(self, topic: str, raw: bytes) -> None:
        try:
            ev = self._decoders[topic](raw)
        except InvalidEvent:
            return
        if ev.model_id != self.model_id:
            return
        if isinstance(ev, Alert):
            seen = Seen(self.index_of_ts(ev.event_ts), ev)
            self.alerts.append(seen)
            where = f" feature {ev.feature}" if ev.feature else ""
            self.console.say(f"  [event {seen.index:>6}] ALERT {ev.severity} {ev.kind}/"
                             f"{ev.detector}{where}: {ev.message}")
        elif isinstance(ev, RetrainRequest):
            self.requests.append(Seen(None, ev))
            self.console.say(f"  [retrain] request {ev.request_id[:8]} ({ev.reason})")
        elif isinstance(ev, ModelVersion):
            self.versions.append(Seen(None, ev))
            m = ev.metrics or {}
            self.console.say(
                f"  [registry] v{ev.version} {ev.status}: holdout accuracy "
                f"{_pct(m.get('holdout_accuracy'))} vs champion "
                f"{_pct(m.get('champion_holdout_accuracy'))} on {m.get('n_holdout', '?')} "
                f"held-out events ({ev.reason})")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


# ------------------------------------------------------------------ processes


@contextlib.contextmanager
def local_broker_if_needed(settings: Settings, port: int, console: Console) -> Iterator[Settings]:
    """Yield settings pointing at a broker; start (and later stop) one if none answers."""
    from driftline.broker import LocalBroker
    from driftline.kafka_admin import require_broker
    from driftline.exceptions import BrokerUnavailable

    try:
        require_broker(settings.kafka_bootstrap, timeout_s=1.0)
        console.say(f"demo: using the Kafka broker at {settings.kafka_bootstrap}")
        yield settings
        return
    except BrokerUnavailable:
        pass
    broker = LocalBroker(settings.home_path / "kafka", port=port)
    console.say(f"demo: no broker at {settings.kafka_bootstrap}; starting Kafka on "
                f"127.0.0.1:{port} (data in {broker.data_dir})")
    status = broker.start()
    try:
        yield settings.replace(kafka_bootstrap=status.bootstrap)
    finally:
        broker.stop()
        console.say("demo: stopped the broker it started")


@contextlib.contextmanager
def workers(settings: Settings, console: Console) -> Iterator[None]:
    """Run a monitor and a retrainer as child processes for the duration."""
    with run_roles(settings, ("monitor", "retrainer"), settings.home_path / "logs") as procs:
        for role, proc in procs.items():
            console.say(f"demo: started the {role} (pid {proc.pid}, log "
                        f"{settings.home_path / 'logs' / (role + '.log')})")
        yield


# ------------------------------------------------------------------ the service


def run_service(settings: Settings, args: argparse.Namespace, *, stop: threading.Event | None,
                out: IO[str], model_id: str | None = None, start_ts: int | None = None,
                on_progress: Any = None):
    """The simulated service: predicts with the current champion, publishes events."""
    from driftline.kafka_admin import ensure_topics
    from driftline.producers import EventPublisher, ModelClient, Simulator, make_stream

    ensure_topics(settings)
    model_id = model_id or args.model_id or f"demo-{uuid.uuid4().hex[:6]}"
    client = ModelClient.from_settings(model_id, settings, follow=True)
    publisher = EventPublisher(settings)
    try:
        stream = make_stream(args.stream, drifts=list(args.drift), seed=args.seed)
        sim = Simulator(settings, model_id=model_id, stream=stream, client=client,
                        publisher=publisher, rate=args.rate,
                        feedback_delay_ms=args.feedback_delay_ms,
                        feedback_fraction=args.feedback_fraction, seed=args.seed,
                        start_ts=start_ts)
        if on_progress is None:
            def on_progress(s: Any) -> None:
                print(f"simulate: {s.events} events, rolling accuracy {_pct(s.accuracy)}, "
                      f"serving v{s.version}", file=out, flush=True)
        return sim.run(args.events, stop=stop, on_progress=on_progress, progress_every=2000)
    finally:
        publisher.close()
        client.close()


# ------------------------------------------------------------------ the summary


@dataclasses.dataclass
class DriftOutcome:
    at: int
    width: int
    alert: Seen | None
    version: ModelVersion | None
    live_at: int | None
    acc_before: float | None
    acc_drifted: float | None
    acc_after: float | None

    @property
    def closed(self) -> bool:
        return (self.alert is not None and self.version is not None and self.live_at is not None
                and self.acc_after is not None and self.acc_drifted is not None
                and self.acc_after > self.acc_drifted)


def summarize(report: Any, follower: Follower, drifts: list, n_events: int) -> list[DriftOutcome]:
    changes = report.version_changes()  # [(index, version)], in order
    outcomes = []
    bounds = [d.at for d in drifts] + [n_events]
    for k, d in enumerate(drifts):
        end = bounds[k + 1]
        alert = next((a for a in follower.alerts if a.index is not None and d.at <= a.index < end
                      and a.event.kind in ("concept_drift", "performance")), None)
        live = next(((i, v) for i, v in changes if d.at < i < end), None)
        version = None
        if live is not None:
            version = next((s.event for s in follower.versions
                            if s.event.version == live[1] and s.event.status == "champion"), None)
        served_before = [i for i, _ in changes if i <= d.at]
        start_before = max([served_before[-1]] if served_before else [0])
        start_before = max(start_before, (bounds[k - 1] if k else 0), d.at - 5000)
        drift_end = d.at + d.width // 2
        acc_before = report.accuracy(start_before, d.at - d.width // 2) if d.at > start_before else None
        acc_drifted = report.accuracy(drift_end, live[0] if live else end)
        acc_after = report.accuracy(live[0], end) if live else None
        outcomes.append(DriftOutcome(d.at, d.width, alert, version, live[0] if live else None,
                                     acc_before, acc_drifted, acc_after))
    return outcomes


def print_summary(console: Console, args: argparse.Namespace, model_id: str, report: Any,
                  follower: Follower, outcomes: list[DriftOutcome], elapsed: float) -> None:
    say = console.say
    say("")
    say("driftline demo: summary")
    say(f"  model            {model_id} on the {args.stream} stream, {report.n_events} predictions, "
        f"{report.n_feedback} labels, seed {args.seed}")
    first = next((s.event for s in follower.versions if s.event.status == "champion"
                  and s.event.parent_version in (None, "", "0")), None)
    if first is not None:
        change = next((i for i, v in report.version_changes() if v == first.version), None)
        say(f"  first version    v{first.version} trained on the first labels, live at event {change}")
    for o in outcomes:
        kind = "abrupt" if o.width == 0 else f"gradual over {o.width} events"
        say(f"  drift            at event {o.at} ({kind})")
        if o.alert is None:
            say("  alert            none after this drift")
        else:
            a = o.alert.event
            say(f"  alert            at event {o.alert.index} ({o.alert.index - o.at} events after "
                f"the drift): {a.kind}/{a.detector}, {a.severity}")
        if o.version is None:
            say("  new version      none went live")
        else:
            m = o.version.metrics or {}
            say(f"  new version      v{o.version.version} (parent v{o.version.parent_version}) "
                f"promoted: holdout accuracy {_pct(m.get('holdout_accuracy'))} vs champion "
                f"{_pct(m.get('champion_holdout_accuracy'))}")
            say(f"  live             at event {o.live_at} ({o.live_at - o.at} events after the drift)")
        say(f"  accuracy         before the drift {_pct(o.acc_before)} | after the drift "
            f"{_pct(o.acc_drifted)} | after the new version went live {_pct(o.acc_after)}")
    closed = bool(outcomes) and all(o.closed for o in outcomes)
    say(f"  loop closed      {'yes' if closed else 'NO'} ({elapsed:.0f} s from start to summary)")


def run_demo(settings: Settings, args: argparse.Namespace, out: IO[str]) -> int:
    started = time.monotonic()
    console = Console(out)
    overrides = {k: v for k, v in DEMO_ENV.items() if ENV[k] not in os.environ}
    settings = Settings.from_env({**{ENV[k]: v for k, v in overrides.items()}, **os.environ})
    model_id = args.model_id or f"demo-{uuid.uuid4().hex[:6]}"
    start_ts = int(time.time() * 1000)
    step_ms = 1000.0 / (args.rate or 1000.0)
    index_of_ts = lambda ts: int(round((ts - start_ts) / step_ms))  # noqa: E731
    drifts = list(args.drift)
    console.say(f"demo: model {model_id}, {args.events} events on the {args.stream} stream at "
                f"{args.rate:g}/s, drift at {', '.join(str(d.at) for d in drifts)}")
    with local_broker_if_needed(settings, args.port, console) as settings:
        from driftline.kafka_admin import ensure_topics

        ensure_topics(settings)
        with workers(settings, console):
            follower = Follower(settings, model_id, console, index_of_ts)
            follower.start()
            try:
                def progress(s: Any) -> None:
                    console.say(f"  [event {s.events:>6}] rolling accuracy {_pct(s.accuracy)}, "
                                f"serving v{s.version}, alerts {len(follower.alerts)}, "
                                f"versions {len(follower.versions)}")

                report = run_service(settings, args, stop=None, out=out, model_id=model_id,
                                     start_ts=start_ts, on_progress=progress)
                time.sleep(1.0)  # let the last alerts and versions arrive
            finally:
                follower.stop()
    outcomes = summarize(report, follower, drifts, report.n_events)
    print_summary(console, args, model_id, report, follower, outcomes,
                  time.monotonic() - started)
    return 0 if outcomes and all(o.closed for o in outcomes) else 1

"""From the first drifted event to the new champion serving, on a real broker at 1,000 events/s.

Each run gets fresh topics (its own prefix) and a fresh home (registry and
artifacts), starts a monitor and a retrainer as child processes, and runs the
simulated service (as ``driftline.demo.run_service`` does) at ``--rate``
events/s: the monitor asks for a first version from the first labels, the
retrainer trains it, the service serves it; ``--margin`` events after it went
live the stream drifts abruptly to its next concept (placed on the first
version's arrival, which a loaded machine delays by tens of seconds, so the
first version always serves before the drift; the index is recorded). The
loop detects, retrains and swaps, and the run stops ``--after`` events after
the swap. Then :mod:`benchmarks.swap_stages` reads the stages off what the
run recorded (topics, registry, the simulator's report): drift -> alert ->
retrain request -> registered -> published -> first prediction by the new
version, in events and in seconds, and how far behind the monitor was.

Clock: the run's predictions, alerts, retrain-requests, model-versions and
metrics topics are created with ``message.timestamp.type=LogAppendTime``, so
every record timestamp read is the instant the broker appended it, on one
clock. (With the default CreateTime the monitor stamps its output with the
time it began the batch, and the service stamps predictions when it called
send.) ``created_at`` comes from the registry, written by the retrainer on the
same host. The labeled topic keeps CreateTime: the retrainer finds its window
by those timestamps.

Baselines in the same run: a fixed-schedule retrain every K events (the
expected wait K/2 plus the measured training and shipping time, see
:func:`benchmarks.swap_stages.periodic_delay`), and the demo's own figure:
its summary (``driftline.demo.summarize``) applied to every run, and, unless
``--no-demo`` or ``--quick``, one ``driftline demo`` with its default events
and drift on the same broker.

Usage: python benchmarks/swap_latency.py [--runs 5] [--quick] [--json] [--stream agrawal|sea]
Uses DRIFTLINE_KAFKA_BOOTSTRAP if set, else starts a local broker on free ports.
How long it takes depends on the machine's load more than on anything else:
on two cores at a load average of 4.5 to 9.5 the full run (5 runs and the
demo) took 7 minutes and ``--quick`` (1 run, no demo) one; at 10 to 14, when
the monitor falls tens of thousands of events behind, about twice that.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from benchmarks.swap_stages import (  # noqa: E402
    STAGES, Recorded, periodic_rows, spread, stage_rows, stages,
)

from driftline.contract import (  # noqa: E402
    Topics, decode_alert, decode_metrics, decode_model_version, decode_retrain_request,
)
from driftline.settings import ENV, Settings  # noqa: E402

# The topics whose record timestamps are read; the broker stamps them on append.
APPEND_TIME_TOPICS = ("predictions", "alerts", "retrain_requests", "model_versions", "metrics")


def broker():
    from driftline.broker import given_or_local

    return given_or_local("driftline-swap-")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def run_settings(bootstrap: str, home: str) -> Settings:
    """The demo's worker settings (unless the environment sets them), on fresh topics and home."""
    from driftline.demo import DEMO_ENV

    env = {**{ENV[k]: v for k, v in DEMO_ENV.items()}, **os.environ}
    return Settings.from_env(env).replace(kafka_bootstrap=bootstrap, home=home,
                                          topic_prefix=f"swap{uuid.uuid4().hex[:8]}.")


def create_topics(settings: Settings) -> None:
    from kafka.admin import NewTopic

    from driftline.kafka_admin import admin_client, ensure_topics, topic_specs

    names = {getattr(Topics(settings.topic_prefix), t) for t in APPEND_TIME_TOPICS}
    admin = admin_client(settings)
    try:
        admin.create_topics([
            NewTopic(s.name, s.num_partitions, s.replication_factor,
                     topic_configs={**(s.topic_configs or {}),
                                    "message.timestamp.type": "LogAppendTime"})
            for s in topic_specs(settings) if s.name in names])
    finally:
        admin.close()
    ensure_topics(settings)  # the rest as driftline makes them, and waits for metadata


def read_topic(settings: Settings, topic: str) -> list[Any]:
    """Every record of ``topic``, partition by partition in offset order."""
    from kafka import KafkaConsumer, TopicPartition

    from driftline.kafka.clients import connect

    consumer = connect(KafkaConsumer, settings, group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        records: dict[int, list] = {tp.partition: [] for tp in parts}
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            if time.monotonic() > deadline:
                raise SystemExit(f"could not read {topic} to its end in 120 s")
            for tp, recs in consumer.poll(timeout_ms=500, max_records=10_000).items():
                records[tp.partition].extend(recs)
        return [r for p in sorted(records) for r in records[p]]
    finally:
        consumer.close()


def wait_until_consuming(settings: Settings, probe_model: str, timeout_s: float = 300.0) -> float:
    """Seconds until the monitor has committed past a probe prediction (of another model).

    A monitor in production has been running for a long time; one that is
    still starting when the service begins would start the run behind by its
    start-up, and carry that backlog to the drift.
    """
    from kafka import KafkaProducer, TopicPartition

    from driftline.contract import Prediction, new_id
    from driftline.kafka.clients import connect
    from driftline.kafka_admin import admin_client

    started = time.monotonic()
    topic = Topics(settings.topic_prefix).predictions
    probe = Prediction(event_id=new_id(), model_id=probe_model, model_version="0",
                       ts=int(time.time() * 1000), features={"probe": 0.0}, prediction=0)
    producer = connect(KafkaProducer, settings, acks="all")
    try:
        sent = producer.send(topic, key=probe.key, value=probe.encode()).get(timeout=60)
    finally:
        producer.close()
    tp = TopicPartition(topic, sent.partition)
    group = f"{settings.topic_prefix}monitor"
    admin = admin_client(settings)
    try:
        while time.monotonic() - started < timeout_s:
            committed = admin.list_group_offsets({group: None}).get(group, {})
            if tp in committed and committed[tp].offset > sent.offset:
                return time.monotonic() - started
            time.sleep(0.5)
    finally:
        admin.close()
    raise SystemExit(f"the monitor did not consume a probe prediction in {timeout_s:.0f} s")


class DriftWhenServing:
    """``(features, label)`` of the old concept until ``margin`` events after the service first
    serves a model, then of the new one: an abrupt drift at a recorded index, ``drift_at``.

    ``serving()`` says whether a model (not the fallback) answers now. The
    first version's arrival depends on the machine's load, so a fixed drift
    index would sometimes fall before it; this keeps the old model serving
    ``margin`` events before every drift.

    >>> live = iter([False, False, True, True, True, True, True])
    >>> stream = DriftWhenServing(iter("abcdefg"), iter("ABCDEFG"), lambda: next(live), margin=2)
    >>> "".join(next(stream) for _ in range(7)), stream.drift_at
    ('abcdABC', 4)
    """

    def __init__(self, before: Iterator, after: Iterator, serving: Any, margin: int) -> None:
        self.before, self.after, self.serving, self.margin = before, after, serving, margin
        self.live_at: int | None = None
        self.drift_at: int | None = None
        self._i = 0

    def __iter__(self) -> DriftWhenServing:
        return self

    def __next__(self) -> Any:
        i, self._i = self._i, self._i + 1
        if self.drift_at is None:
            if self.live_at is None and self.serving():
                self.live_at = i
            if self.live_at is not None and i >= self.live_at + self.margin:
                self.drift_at = i
        return next(self.before if self.drift_at is None else self.after)


class StopAfterSwap:
    """Progress callback: stops the service ``after`` events after the first swap past the drift."""

    def __init__(self, stream: DriftWhenServing, after: int, stop: threading.Event) -> None:
        self.stream, self.after, self.stop = stream, after, stop
        self.version_at_drift: str | None = None
        self.swapped_at: int | None = None

    def __call__(self, s: Any) -> None:
        if self.stream.drift_at is None or s.events <= self.stream.drift_at:
            self.version_at_drift = s.version
        elif self.swapped_at is None and s.version != self.version_at_drift:
            self.swapped_at = s.events
        if self.swapped_at is not None and s.events >= self.swapped_at + self.after:
            self.stop.set()


def serve(settings: Settings, args: argparse.Namespace, model_id: str, seed: int) -> tuple[Any, int | None]:
    """The simulated service (as ``driftline.demo.run_service``) on a drift placed by
    :class:`DriftWhenServing`; returns the simulator's report and the drift's index."""
    from driftline.producers import Drift, EventPublisher, ModelClient, Simulator, make_stream
    from driftline.producers.model_client import FALLBACK_VERSION

    client = ModelClient.from_settings(model_id, settings, follow=True)
    publisher = EventPublisher(settings)
    try:
        # The second concept from its first event: the stream's own drift k=0 -> 1.
        stream = DriftWhenServing(make_stream(args.stream, seed=seed),
                                  make_stream(args.stream, drifts=[Drift(0)], seed=seed),
                                  lambda: client.version != FALLBACK_VERSION, args.margin)
        stop = threading.Event()
        sim = Simulator(settings, model_id=model_id, stream=stream, client=client,
                        publisher=publisher, rate=args.rate, feedback_delay_ms=args.feedback_delay_ms,
                        feedback_fraction=args.feedback_fraction, seed=seed)
        report = sim.run(args.max_events, stop=stop, on_progress=StopAfterSwap(stream, args.after, stop),
                         progress_every=500)
        return report, stream.drift_at
    finally:
        publisher.close()
        client.close()


def record(settings: Settings, model_id: str, drift_at: int, report: Any,
           feedback_delay_ms: int) -> Recorded:
    from driftline.retrainer.persistence.registry import Registry

    t = Topics(settings.topic_prefix)
    preds = [r for r in read_topic(settings, t.predictions) if r.key == model_id.encode()]
    if len(preds) != report.n_events:
        raise SystemExit(f"{len(preds)} predictions on the topic, the service made {report.n_events}")
    # Only the event time is needed, and the field is near the front: json.loads is cheap enough.
    event_ts = np.fromiter((json.loads(r.value)["ts"] for r in preds), np.int64, len(preds))
    wall = np.fromiter((r.timestamp for r in preds), np.int64, len(preds))

    def events(topic: str, decode: Any) -> list:
        return [(r.timestamp, ev) for r in read_topic(settings, topic)
                if (ev := decode(r.value)).model_id == model_id]

    registry = Registry(settings.resolved_registry_url)
    try:
        created = {v.version: v.created_at for v in registry.versions(model_id)}
        started = {r.request_id: r.started_at for r in registry.runs(model_id)}
    finally:
        registry.close()
    return Recorded(drift_at=drift_at, event_ts=event_ts, wall_ms=wall,
                    alerts=events(t.alerts, decode_alert),
                    requests=events(t.retrain_requests, decode_retrain_request),
                    versions=events(t.model_versions, decode_model_version),
                    created_at=created, run_started=started, report=report,
                    feedback_delay_ms=feedback_delay_ms, metrics=events(t.metrics, decode_metrics))


def demo_figures(rec: Recorded) -> dict[str, Any]:
    """What ``driftline demo``'s summary says about the same run (events after the drift)."""
    from driftline.demo import Seen, summarize
    from driftline.producers import Drift

    follower = types.SimpleNamespace(
        alerts=[Seen(rec.index_of_event_ts(a.event_ts), a) for _, a in rec.alerts],
        versions=[Seen(None, v) for _, v in rec.versions])
    (o,) = summarize(rec.report, follower, [Drift(rec.drift_at)], rec.report.n_events)
    return {"demo_alert_events": None if o.alert is None else o.alert.index - o.at,
            "demo_live_events": None if o.live_at is None else o.live_at - o.at}


def one_run(bootstrap: str, args: argparse.Namespace, k: int) -> dict[str, Any]:
    from driftline.processes import run_roles

    seed = args.seed + k
    model_id = f"swap-{k}"
    keep = Path(args.keep, f"run{k + 1}") if args.keep else None
    with contextlib.ExitStack() as stack:
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            home = str(keep)
        else:
            home = stack.enter_context(tempfile.TemporaryDirectory(prefix="driftline-swap-run-"))
        settings = run_settings(bootstrap, home)
        create_topics(settings)
        load_at_start = os.getloadavg()[0]
        started = time.monotonic()
        with run_roles(settings, ("monitor", "retrainer"), Path(home) / "logs"):
            ready_s = wait_until_consuming(settings, f"{model_id}-probe")
            report, drift_at = serve(settings, args, model_id, seed)
        if drift_at is None:  # no model served within the run: report what there is
            drift_at = report.n_events
        rec = record(settings, model_id, drift_at, report, args.feedback_delay_ms)
    return {"kind": "run", "run": k + 1, "seed": seed, "stream": args.stream, **stages(rec),
            **demo_figures(rec), "rate": round(report.n_events / report.elapsed_s, 1),
            "monitor_ready_s": round(ready_s, 1), "wall_s": round(time.monotonic() - started, 1),
            "load1": round(load_at_start, 2)}


def demo_run(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    """One ``driftline demo`` with its default events and drift on the same broker: its summary."""
    with tempfile.TemporaryDirectory(prefix="driftline-swap-demo-") as home:
        env = {**os.environ, ENV["kafka_bootstrap"]: bootstrap, ENV["home"]: home,
               ENV["topic_prefix"]: f"swapdemo{uuid.uuid4().hex[:8]}."}
        cmd = [sys.executable, "-m", "driftline", "demo", "--stream", args.stream,
               "--rate", str(args.rate), "--seed", str(args.seed)]
        started = time.monotonic()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    out = done.stdout

    def number(pattern: str) -> int | None:
        found = re.search(pattern, out)
        return int(found.group(1)) if found else None

    summary = out[out.index("driftline demo: summary"):] if "driftline demo: summary" in out else ""
    return {"kind": "baseline", "baseline": "driftline demo", "exit": done.returncode,
            "first_live_at": number(r"first version +v\S+ trained on the first labels, live at event (\d+)"),
            "drift_at": number(r"drift +at event (\d+)"),
            "alert_events": number(r"alert +at event \d+ \((-?\d+) events after"),
            "live_events": number(r"live +at event \d+ \((-?\d+) events after"),
            "summary": [line.strip() for line in summary.splitlines()[1:] if line.strip()],
            "wall_s": round(time.monotonic() - started, 1)}


# ------------------------------------------------------------------ report


def _f(v: Any, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def print_tables(runs: list[dict], stage_stats: list[dict], periodic: list[dict],
                 demo: dict | None, args: argparse.Namespace, loads: tuple[str, str]) -> None:
    heads = ["drift>alert", "alert>req", "req>reg", "reg>pub", "pub>serve", "total"]
    keys = [*STAGES, "total"]
    print(f"\nswap latency: {args.stream} stream at {args.rate:g} events/s, an abrupt drift "
          f"{args.margin} events after the first version went live; labels {args.feedback_delay_ms} "
          f"ms late for {args.feedback_fraction:.0%} of predictions")
    print(f"machine: {loads[0]} at the start, {loads[1]} at the end\n")
    for unit, title in (("s", "seconds (broker append times; registered: registry created_at)"),
                        ("events", "events (predictions the service had published by each boundary)")):
        print(title)
        print(f"  {'run':>3} {'seed':>4} {'v1 at':>6} {'drift':>6} {'detect':>6} "
              + " ".join(f"{h:>11}" for h in heads) + f" {'train s':>7} {'ev/s':>6} {'load':>5}")
        for r in runs:
            if r["outcome"] != "swapped":
                print(f"  {r['run']:>3} {r['seed']:>4} {_f(r.get('v1_live_at'), '{}'):>6} "
                      f"{r['drift_at']:>6}  {r['outcome']} in {r['events']} events (the monitor "
                      f"{_f(r.get('monitor_behind_end'), '{}')} events behind at its last snapshot)")
                continue
            fmt = "{:.3f}" if unit == "s" else "{}"
            print(f"  {r['run']:>3} {r['seed']:>4} {r['v1_live_at']:>6} {r['drift_at']:>6} "
                  f"{r['detect_events']:>6} "
                  + " ".join(f"{_f(r[f'{k}_{unit}'], fmt):>11}" for k in keys)
                  + f" {_f(r['train_s'], '{:.2f}'):>7} {r['rate']:>6.0f} {r['load1']:>5.2f}")
        by = {(s["stage"], s["unit"]): s for s in stage_stats}
        for stat in ("median", "min", "max"):
            fmt = "{:.3f}" if unit == "s" else "{:.0f}"
            print(f"  {stat:>29} " + " ".join(f"{_f(by[(k, unit)][stat], fmt):>11}" for k in keys))
        print()
    by = {s["stage"]: s for s in stage_stats if s["unit"] == ""}
    print("  detection rests on the event       "
          f"{_f(by['detect_events']['median'], '{:.0f}')} events after the drift (median; "
          f"min {_f(by['detect_events']['min'], '{:.0f}')}, max {_f(by['detect_events']['max'], '{:.0f}')})")
    print(f"  label of that event out -> alert   {_f(by['monitor_lag_s']['median'], '{:.2f}')} s, "
          f"{_f(by['monitor_lag_events']['median'], '{:.0f}')} events (median: the monitor's "
          f"processing and lag)")
    print(f"  request -> registered (medians)    the retrainer picks it up in "
          f"{_f(by['pickup_s']['median'], '{:.2f}')} s, trains {_f(by['train_s']['median'], '{:.2f}')} s "
          f"on a window of {_f(by['n_examples']['median'], '{:.0f}')} labeled examples;")
    print("                                     the rest waits for labels after the detection, "
          "reads the window, gates, profiles")
    print(f"  accuracy (median over runs)        before the drift {_f(by['acc_before']['median'], '{:.1%}')}"
          f" | after the drift {_f(by['acc_drifted']['median'], '{:.1%}')}"
          f" | after the swap {_f(by['acc_after']['median'], '{:.1%}')}")
    ok = [r for r in runs if r["outcome"] == "swapped"]
    ready = spread(r.get("monitor_ready_s") for r in runs)
    print(f"  monitor consuming (service starts) {_f(ready['median'])} s after it was started "
          f"(median; min {_f(ready['min'])}, max {_f(ready['max'])})")
    v1 = spread(r.get("v1_serving_s") for r in runs)
    print(f"  first version serving              {_f(v1['median'], '{:.1f}')} s after the first "
          f"prediction (median; min {_f(v1['min'])}, max {_f(v1['max'])})")
    print(f"  monitor behind the service         {_f(by['monitor_behind_at_drift']['median'], '{:.0f}')} "
          f"events at the drift, {_f(by['monitor_behind_max']['median'], '{:.0f}')} at most (medians; "
          f"from its metrics snapshots)")
    print(f"  runs that closed the loop          {len(ok)} of {len(runs)}")
    total = spread(r["total_events"] for r in ok)["median"]
    print("\nbaselines, same run")
    if periodic:
        p0 = periodic[0]
        print(f"  periodic retrain every K events: K/2 + (training {p0['train_s']:.2f} s + register, "
              f"publish, serve {p0['ship_s']:.2f} s) x {args.rate:g}/s, medians measured above;")
        print("  a lower bound: it assumes the first retrain after the drift already learns the new concept")
        for p in periodic:
            print(f"    K = {p['period']:>9}  expected {p['total_events']:>11.0f} events "
                  f"({p['total_s']:.1f} s)")
        if total is not None:
            even = 2 * (total - p0["pipeline_events"])
            print(f"    driftline's median {total:.0f} events equals a schedule of K = {max(even, 0):.0f} "
                  f"events ({max(even, 0) / args.rate:.1f} s)")
    demo_live = spread(r.get("demo_live_events") for r in ok)
    same = all(r.get("demo_live_events") == r["total_events"] for r in ok)
    print(f"  the demo's summary on these runs: live {_f(demo_live['median'], '{:.0f}')} events after "
          f"the drift (median), {'the same as' if same else 'DIFFERENT from'} the total above")
    if demo is not None:
        print(f"  driftline demo, its default events and drift ({demo['wall_s']:.0f} s, "
              f"exit {demo['exit']}): "
              f"alert {_f(demo['alert_events'], '{}')} and live {_f(demo['live_events'], '{}')} "
              f"events after the drift; its summary:")
        for line in demo["summary"]:
            print(f"    {line}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=None, help="runs, seeds --seed .. --seed+runs-1 (default 5)")
    ap.add_argument("--quick", action="store_true", help="1 run, earlier drift, no demo (under 2 min)")
    ap.add_argument("--json", action="store_true", help="one JSON object per row instead of tables")
    ap.add_argument("--stream", choices=["agrawal", "sea"], default="agrawal")
    ap.add_argument("--rate", type=float, default=1000.0, help="events per second (default 1000)")
    ap.add_argument("--margin", type=int, default=None,
                    help="events the first version serves before the drift (default 10000, quick 5000)")
    ap.add_argument("--after", type=int, default=None,
                    help="events served after the swap (default 10000, quick 4000)")
    ap.add_argument("--max-events", type=int, default=None,
                    help="events at most per run (default 200000, quick 80000)")
    ap.add_argument("--feedback-delay-ms", type=int, default=2000)
    ap.add_argument("--feedback-fraction", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--periods", default="10000,60000,3600000",
                    help="K of the periodic baseline, comma-separated events")
    ap.add_argument("--keep", default=None, metavar="DIR",
                    help="keep each run's home (worker logs, registry) under DIR/runN")
    ap.add_argument("--no-demo", action="store_true", help="skip the driftline demo baseline run")
    args = ap.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 5)
    args.margin = args.margin or (5_000 if args.quick else 10_000)
    args.after = args.after or (4_000 if args.quick else 10_000)
    args.max_events = args.max_events or (80_000 if args.quick else 200_000)
    if args.runs < 1 or not args.rate > 0 or min(args.margin, args.after, args.max_events) < 1:
        ap.error("--runs, --margin, --after and --max-events must be >= 1 and --rate > 0")
    periods = [int(p) for p in args.periods.split(",") if p.strip()]

    load_start = load()
    runs: list[dict] = []
    demo = None
    with broker() as bootstrap:
        for k in range(args.runs):
            row = one_run(bootstrap, args, k)
            runs.append(row)
            print(f"run {k + 1}/{args.runs}: {row['outcome']}, total "
                  f"{_f(row.get('total_s'), '{:.2f}')} s / {_f(row.get('total_events'), '{}')} events "
                  f"({row['wall_s']:.0f} s of wall time, load {row['load1']:.2f})",
                  file=sys.stderr, flush=True)
        if not (args.quick or args.no_demo):
            demo = demo_run(bootstrap, args)
    loads = (load_start, load())
    stage_stats = stage_rows(runs)
    periodic = periodic_rows(runs, periods, args.rate)
    if args.json:
        for row in [*runs, *stage_stats, *periodic, *([demo] if demo else []),
                    {"kind": "load", "start": loads[0], "end": loads[1]}]:
            print(json.dumps(row))
    else:
        print_tables(runs, stage_stats, periodic, demo, args, loads)
    return 0 if all(r["outcome"] == "swapped" for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())

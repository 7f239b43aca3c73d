"""What each ``driftline`` subcommand does; :mod:`driftline.cli` parses, this runs."""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
import time
from datetime import datetime, timezone

from driftline.exceptions import SettingsError
from driftline.settings import ENV, Settings


def _listener_security(args: argparse.Namespace, settings: Settings):
    """The local broker's listener security: from ``--listener``, else from the settings' protocol."""
    from driftline.kafka.security import SCRAM, ListenerSecurity

    protocol = (args.listener or "").upper()
    if not protocol:
        protocol = settings.kafka_security_protocol if settings.kafka_security_protocol in (
            "SSL", "SASL_SSL") else "PLAINTEXT"
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return ListenerSecurity(protocol="SSL")
    user, password = settings.kafka_sasl_username, settings.kafka_sasl_password.reveal()
    if not (user and password):
        raise SettingsError(f"a SASL_SSL listener needs {ENV['kafka_sasl_username']} and "
                            f"{ENV['kafka_sasl_password']}: its SCRAM user is created at start")
    if settings.kafka_sasl_mechanism and settings.kafka_sasl_mechanism not in SCRAM:
        raise SettingsError(f"the local broker's SASL_SSL listener offers {' and '.join(SCRAM)}, not "
                            f"{ENV['kafka_sasl_mechanism']}={settings.kafka_sasl_mechanism}")
    return ListenerSecurity(protocol="SASL_SSL", users={user: password})


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.broker import LocalBroker

    data = settings.home_path / "kafka"
    security = _listener_security(args, settings) if args.action == "start" else None
    broker = LocalBroker(data, port=args.port, security=security)
    if args.action == "start":
        if broker.status().running:
            print(broker.status().describe() + " (already running)")
            return 0
        print(f"broker: starting Kafka on 127.0.0.1:{args.port} (first start resolves jars with mvn)",
              flush=True)
        status = broker.start()
        print(status.describe())
        where = status.bootstrap if broker.protocol == "PLAINTEXT" else f"{broker.protocol}://{status.bootstrap}"
        if status.bootstrap != settings.kafka_bootstrap or broker.protocol != settings.kafka_security_protocol:
            print(f"export {ENV['kafka_bootstrap']}={where}")
        if security is not None:
            print(f"export {ENV['kafka_ssl_cafile']}={data / 'tls' / 'ca.pem'}")
    elif args.action == "stop":
        print("broker: stopped" if broker.stop() else "broker: was not running")
    else:
        status = broker.status()
        print(status.describe())
        return 0 if status.running else 3
    return 0


def cmd_monitor(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.consumers.app import run_monitor

    run_monitor(settings)
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def cmd_retrainer(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.kafka_admin import ensure_topics
    from driftline.observe.worker import observed
    from driftline.processes import group_of
    from driftline.retrainer.persistence.artifacts import ArtifactStore
    from driftline.retrainer.persistence.registry import Registry
    from driftline.retrainer.orchestration.worker import RetrainWorker

    ensure_topics(settings)
    stop = _stop_on_signals()
    registry = Registry(settings.resolved_registry_url)
    # One group per topic prefix, like the monitor's: deployments sharing a cluster stay apart.
    worker = RetrainWorker(settings, registry, ArtifactStore.from_settings(settings),
                           group_id=group_of(settings, "retrainer"))
    try:
        with observed(settings, ready=lambda: worker.ready) as worker.exporter:
            worker.run(stop)
    finally:
        worker.close()
        registry.close()
    return 0


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.demo import run_service

    stop = _stop_on_signals()
    report = run_service(settings, args, stop=stop, out=sys.stdout)
    print(f"simulate: published {report.n_events} predictions and {report.n_feedback} labels")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.demo import run_demo

    return run_demo(settings, args, out=sys.stdout)


def cmd_notify(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.kafka_admin import ensure_topics
    from driftline.notify.worker import receivers_from, run

    receivers_from(settings)  # a setting missing or wrong: one line, before any connection
    ensure_topics(settings)
    run(settings, _stop_on_signals())
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.consumers.worker.loop import _tune_runtime
    from driftline.replay.command import ReplayOptions, run_replay

    if args.start is not None and args.end is not None and None not in (args.start.offset, args.end.offset) \
            and args.end.offset <= args.start.offset:
        raise SettingsError(f"--to offset {args.end.offset} is not after --from offset {args.start.offset}")
    options = ReplayOptions(model_id=args.model_id, out=args.out, start=args.start, end=args.end,
                            false_alarm_rate=args.rate, window=args.window,
                            reference_size=args.reference_size, reference=args.reference,
                            detectors=args.detectors, suite=args.suite, batch_size=args.batch_size,
                            quiet=args.quiet)
    _tune_runtime()  # the worker's interpreter settings: the monitor runs as fast as there
    summary = run_replay(settings, options)
    first, live = summary["first_alert"], summary["first_live_alert"]

    def at(a) -> str:
        return "none" if a is None else f"event {a['event_index']} ({a['kind']}/{a['detector']})"

    def firing(rows) -> int:
        return sum(1 for a in rows if a["status"] == "firing")

    print(f"replay: {summary['events']['replayed']} events of {args.model_id}, "
          f"{firing(summary['alerts'])} alerts replayed (first at {at(first)}), "
          f"{firing(summary['live_alerts'])} live (first at {at(live)})")
    print(f"replay: wrote {args.out}/report.html and {args.out}/summary.json")
    return 0


def cmd_ui(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.ui.server import run_dashboard

    run_dashboard(settings, _stop_on_signals(), host=args.host, port=args.port, out=sys.stdout)
    return 0


def format_alert(alert) -> str:
    when = datetime.fromtimestamp(alert.ts / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    where = f" feature={alert.feature}" if alert.feature else ""
    return (f"{when}  {alert.severity.upper():8s} {alert.model_id} v{alert.model_version}  "
            f"{alert.kind}/{alert.detector}{where}  value={alert.value:.4g} "
            f"threshold={alert.threshold:.4g}  {alert.message}")


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from kafka import KafkaConsumer

    from driftline.contract import InvalidEvent, Topics, decode_alert
    from driftline.kafka.clients import connect
    from driftline.kafka_admin import require_broker

    require_broker(settings.kafka_bootstrap)
    topic = Topics(settings.topic_prefix).alerts
    consumer = connect(KafkaConsumer, settings, client_id="driftline-alerts", group_id=None,
                       enable_auto_commit=False, consumer_timeout_ms=500)
    stop = _stop_on_signals()
    shown = 0
    last = time.monotonic()
    try:
        partitions = _wait_for_partitions(consumer, topic)
        consumer.assign(partitions)
        if args.from_beginning:
            consumer.seek_to_beginning(*partitions)
        else:
            consumer.seek_to_end(*partitions)
        while not stop.is_set():
            got = consumer.poll(timeout_ms=500)
            for records in got.values():
                for rec in records:
                    try:
                        alert = decode_alert(rec.value)
                    except InvalidEvent as exc:
                        print(f"alerts: skipping malformed message at offset {rec.offset}: {exc}",
                              file=sys.stderr)
                        continue
                    if args.model_id and alert.model_id != args.model_id:
                        continue
                    print(json.dumps(alert.to_dict()) if args.json else format_alert(alert),
                          flush=True)
                    shown += 1
                    last = time.monotonic()
                    if args.max and shown >= args.max:
                        return 0
            if args.timeout is not None and time.monotonic() - last > args.timeout:
                return 0
    finally:
        consumer.close()
    return 0


def _wait_for_partitions(consumer, topic: str, timeout_s: float = 10.0):
    from kafka import TopicPartition

    from driftline.exceptions import DriftlineError

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        time.sleep(0.2)
    raise DriftlineError(f"topic {topic} does not exist; has a monitor run with this prefix?")


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.retrainer.persistence.registry import Registry

    args.action = args.action or "list"  # 'driftline models' alone lists
    if args.action in ("promote", "rollback"):
        return _change_champion(args, settings)
    with Registry(settings.resolved_registry_url) as registry:
        if args.action == "register":
            return _register(args, registry)
        if args.action == "list":
            return _list(args, registry, settings)
        if args.model_id not in registry.models():
            print(f"driftline models: error: no model {args.model_id!r} in the registry",
                  file=sys.stderr)
            return 1
        return (_show if args.action == "show" else _history)(args, registry)


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def _grid(header: tuple, rows: list[tuple]) -> str:
    lines = [header, *rows]
    widths = [max(len(str(r[i])) for r in lines) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines)


def _registration_dict(model) -> dict | None:
    return None if model is None else dataclasses.asdict(model)


def _register(args: argparse.Namespace, registry) -> int:
    params = None
    if args.clear_params:
        params = {}
    if args.param:
        params = dict(args.param)
    model = registry.register_model(args.model_id, task=args.task, trainer=args.trainer,
                                    trainer_params=params, gate_metric=args.gate_metric,
                                    gate_margin=args.gate_margin, shadow_events=args.shadow_events)
    if getattr(args, "json", False):
        print(json.dumps(_registration_dict(model)))
    else:
        print(f"{model.model_id}: registered")
        print(_describe_registration(model))
    return 0


def _describe_registration(model) -> str:
    params = json.dumps(model.trainer_params, sort_keys=True) if model.trainer_params else "none"
    margin = "DRIFTLINE_GATE_MARGIN" if model.gate_margin is None else f"{model.gate_margin:g}"
    shadow = ("DRIFTLINE_SHADOW_EVENTS" if model.shadow_events is None
              else f"{model.shadow_events} live labeled events" if model.shadow_events else "none")
    return (f"  task:     {model.task}\n"
            f"  trainer:  {model.trainer or 'the worker default'}  params: {params}\n"
            f"  gate:     {model.gate_metric or 'DRIFTLINE_GATE_METRIC'}, margin {margin}\n"
            f"  shadow:   {shadow}")


def _list(args: argparse.Namespace, registry, settings: Settings) -> int:
    rows, docs = [], []
    for model_id in registry.models():
        model, champion = registry.model(model_id), registry.champion(model_id)
        versions, runs = registry.versions(model_id), registry.runs(model_id)
        last = runs[-1] if runs else None
        docs.append({"model_id": model_id, "registration": _registration_dict(model),
                     "champion": None if champion is None else dataclasses.asdict(champion),
                     "n_versions": len(versions),
                     "last_run": None if last is None else dataclasses.asdict(last)})
        trainer = (model.trainer if model and model.trainer
                   else champion.trainer if champion else "-")
        rows.append((model_id, model.task if model else "-", trainer,
                     f"v{champion.version}" if champion else "-",
                     _fmt(champion.metrics.get("holdout_accuracy")) if champion else "-",
                     str(len(versions)),
                     f"{last.state} {_when(last.finished_at or last.started_at)}" if last else "-"))
    if args.json:
        for doc in docs:
            print(json.dumps(doc))
    elif not rows:
        print(f"no models registered in {settings.shown_registry_url}")
    else:
        print(_grid(("MODEL", "TASK", "TRAINER", "CHAMPION", "HOLDOUT ACC", "VERSIONS", "LAST RUN"),
                    rows))
    return 0


def _show(args: argparse.Namespace, registry) -> int:
    model, champion = registry.model(args.model_id), registry.champion(args.model_id)
    lineage = registry.lineage(args.model_id, champion.version) if champion else []
    external = registry.external_versions(args.model_id)
    if args.json:
        print(json.dumps({"model_id": args.model_id, "registration": _registration_dict(model),
                          "champion": None if champion is None else dataclasses.asdict(champion),
                          "lineage": [dataclasses.asdict(v) for v in lineage],
                          "external_versions": [dataclasses.asdict(e) for e in external]}))
        return 0
    print(f"model {args.model_id}")
    print(_describe_registration(model) if model else "  not registered: the worker's default "
                                                      "trainer and gate settings apply")
    for e in external:
        print(f"external: {e.version} (reported by services, not made by driftline; first seen "
              f"{_when(e.first_seen_at)}, {e.n_labeled} labeled events)")
    for v in registry.versions(args.model_id):
        if v.status == "shadow":
            print(f"in shadow: v{v.version} since {_when(v.status_changed_at or v.created_at)}, "
                  f"scored next to the champion before promotion")
    if champion is None:
        print("champion: none yet")
        return 0
    m, w = champion.metrics, champion.window
    print(f"champion: v{champion.version}, since {_when(champion.status_changed_at or champion.created_at)}"
          f" ({champion.status_reason or champion.reason})")
    print(f"  request:  {champion.request_id or '-'}  alerts: {', '.join(champion.alert_ids) or '-'}")
    offsets = ", ".join(f"p{p}:{o.get('start')}-{o.get('end')}"
                        for p, o in sorted((w.get("offsets") or {}).items()))
    print(f"  window:   {w.get('topic') or '-'} [{offsets or '-'}], event time "
          f"{_when(w.get('first_ts'))} .. {_when(w.get('until_ts'))}, {w.get('n_examples', '-')} examples")
    params = json.dumps(champion.trainer_params, sort_keys=True) if champion.trainer_params else "none"
    print(f"  trainer:  {champion.trainer}  params: {params}")
    print(f"  holdout:  challenger {_fmt(m.get('holdout_accuracy'))}, champion then "
          f"{_fmt(m.get('champion_holdout_accuracy'))}, baseline {_fmt(m.get('baseline_accuracy'))}")
    print(f"  gate:     {champion.reason}")
    print(f"  artifact: {champion.artifact_uri or '-'}  sha256: {champion.sha256 or '-'}")
    print(f"  reference profile for the monitor: {'stored' if champion.reference else 'none'}")
    shadow = m.get("shadow") or {}
    if shadow.get("n"):
        print(f"  shadow:   {shadow.get('metric')} {_fmt(shadow.get('challenger'))} against the champion "
              f"v{shadow.get('champion_version')}'s {_fmt(shadow.get('champion'))} on "
              f"{shadow.get('n_events')} live labeled events")
    print("  lineage:  " + " <- ".join(f"v{v.version}" for v in lineage))
    return 0


def _history(args: argparse.Namespace, registry) -> int:
    versions = registry.versions(args.model_id)
    with_version = {v.request_id for v in versions if v.request_id}
    runs = [r for r in registry.runs(args.model_id) if r.request_id not in with_version]
    events = [(v.created_at, "version", v) for v in versions] + \
             [(r.finished_at or r.started_at, "run", r) for r in runs] + \
             [(e.first_seen_at, "external", e) for e in registry.external_versions(args.model_id)]
    events.sort(key=lambda e: e[0])
    if args.json:
        for _, kind, item in events:
            print(json.dumps({"kind": kind, **dataclasses.asdict(item)}))
        return 0
    rows = []
    for when, kind, item in events:
        if kind == "version":
            m = item.metrics or {}
            rows.append((_when(when), f"v{item.version}", item.status, item.parent_version or "-",
                         item.request_id or "-", _fmt(m.get("holdout_accuracy")),
                         _fmt(m.get("champion_holdout_accuracy")),
                         str((item.window or {}).get("n_examples", "-")),
                         item.status_reason or item.reason))
        elif kind == "external":
            rows.append((_when(when), item.version, "external", "-", item.request_id or "-", "-", "-",
                         str(item.n_labeled), "reported by services, not made by driftline"))
        else:
            rows.append((_when(when), "-", f"run {item.state}", "-", item.request_id, "-", "-", "-",
                         item.outcome or f"attempt {item.attempts} by {item.worker_id}"))
    print(_grid(("WHEN", "VERSION", "STATUS", "PARENT", "REQUEST", "HOLDOUT ACC", "CHAMPION ACC",
                 "EXAMPLES", "WHY"), rows))
    return 0


def _change_champion(args: argparse.Namespace, settings: Settings) -> int:
    """Promote or roll back in the registry, then announce the champion to services."""
    from driftline.kafka_admin import ensure_topics
    from driftline.producers import EventPublisher
    from driftline.retrainer.persistence.registry import Registry

    ensure_topics(settings)  # fails fast, before the registry changes, if no broker answers
    with Registry(settings.resolved_registry_url) as registry:
        before = registry.champion(args.model_id)
        if args.action == "promote":
            reason = f"promoted by hand (was v{before.version})" if before else "promoted by hand"
            record = registry.promote(args.model_id, args.version, reason=reason)
        else:
            reason = f"rolled back by hand from v{before.version}" if before else ""
            record = registry.rollback(args.model_id, reason=reason)
    event = record.announcement(int(time.time() * 1000))
    with EventPublisher(settings) as publisher:
        publisher.publish(event)
    print(f"{record.model_id}: v{record.version} is champion ({reason}); published on "
          f"{settings.topic_prefix}model-versions")
    return 0

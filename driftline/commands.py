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

from driftline.settings import Settings


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.broker import LocalBroker

    broker = LocalBroker(settings.home_path / "kafka", port=args.port)
    if args.action == "start":
        if broker.status().running:
            print(broker.status().describe() + " (already running)")
            return 0
        print(f"broker: starting Kafka on 127.0.0.1:{args.port} (first start resolves jars with mvn)",
              flush=True)
        status = broker.start()
        print(status.describe())
        if status.bootstrap != settings.kafka_bootstrap:
            print(f"export DRIFTLINE_KAFKA_BOOTSTRAP={status.bootstrap}")
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
    from driftline.retrainer.artifacts import ArtifactStore
    from driftline.retrainer.registry import Registry
    from driftline.retrainer.worker import RetrainWorker

    ensure_topics(settings)
    stop = _stop_on_signals()
    registry = Registry(settings.resolved_registry_url)
    worker = RetrainWorker(settings, registry, ArtifactStore(settings.artifact_path))
    try:
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


def format_alert(alert) -> str:
    when = datetime.fromtimestamp(alert.ts / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    where = f" feature={alert.feature}" if alert.feature else ""
    return (f"{when}  {alert.severity.upper():8s} {alert.model_id} v{alert.model_version}  "
            f"{alert.kind}/{alert.detector}{where}  value={alert.value:.4g} "
            f"threshold={alert.threshold:.4g}  {alert.message}")


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from kafka import KafkaConsumer

    from driftline.contract import InvalidEvent, Topics, decode_alert
    from driftline.kafka_admin import require_broker

    require_broker(settings.kafka_bootstrap)
    topic = Topics(settings.topic_prefix).alerts
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
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
    from driftline.retrainer.registry import Registry

    if args.action != "list" and not args.model_id:
        print(f"driftline models: error: '{args.action}' needs a MODEL_ID", file=sys.stderr)
        return 2
    if args.action == "promote" and not args.version:
        print("driftline models: error: 'promote' needs a MODEL_ID and a VERSION", file=sys.stderr)
        return 2
    if args.action in ("promote", "rollback"):
        return _change_champion(args, settings)
    registry = Registry(settings.resolved_registry_url)
    try:
        model_ids = [args.model_id] if args.model_id else registry.models()
        rows = [v for m in model_ids for v in registry.versions(m)]
        if args.action in ("show", "history") and not rows:
            print(f"driftline models: error: no model {args.model_id!r} in the registry",
                  file=sys.stderr)
            return 1
        if args.json:
            for v in rows:
                print(json.dumps(_version_dict(v)))
            return 0
        if not rows:
            print(f"no models registered in {settings.resolved_registry_url}")
            return 0
        print(_table(rows))
    finally:
        registry.close()
    return 0


def _change_champion(args: argparse.Namespace, settings: Settings) -> int:
    """Promote or roll back in the registry, then announce the champion to services."""
    from driftline.contract import ModelVersion
    from driftline.kafka_admin import ensure_topics
    from driftline.producers import EventPublisher
    from driftline.retrainer.registry import Registry

    ensure_topics(settings)  # fails fast, before the registry changes, if no broker answers
    registry = Registry(settings.resolved_registry_url)
    try:
        before = registry.champion(args.model_id)
        if args.action == "promote":
            record = registry.promote(args.model_id, args.version)
            reason = f"promoted by hand (was v{before.version})" if before else "promoted by hand"
        else:
            record = registry.rollback(args.model_id)
            reason = f"rolled back by hand from v{before.version}"
    finally:
        registry.close()
    event = ModelVersion(model_id=record.model_id, version=record.version, status="champion",
                         parent_version=record.parent_version, request_id=record.request_id,
                         artifact_uri=record.artifact_uri, sha256=record.sha256,
                         metrics=record.metrics, ts=int(time.time() * 1000), reason=reason)
    with EventPublisher(settings) as publisher:
        publisher.publish(event)
    print(f"{record.model_id}: v{record.version} is champion ({reason}); published on "
          f"{settings.topic_prefix}model-versions")
    return 0


def _version_dict(v) -> dict:
    return dataclasses.asdict(v)


def _table(rows) -> str:
    header = ("MODEL", "VERSION", "STATUS", "PARENT", "HOLDOUT ACC", "CHAMPION ACC", "EXAMPLES",
              "CREATED", "REASON")
    lines = [header]
    for v in rows:
        m = v.metrics or {}
        created = datetime.fromtimestamp(v.created_at / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        lines.append((v.model_id, v.version, v.status, v.parent_version or "-",
                      _fmt(m.get("holdout_accuracy")), _fmt(m.get("champion_holdout_accuracy")),
                      str((v.window or {}).get("n_examples", "-")), created, v.reason[:60]))
    widths = [max(len(str(r[i])) for r in lines) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"

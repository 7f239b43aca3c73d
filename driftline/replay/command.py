"""``driftline replay``: the monitor, in process, over a model's retained log, and its report.

It reads the model's ``predictions`` and ``feedback`` between two bounds with
a consumer in no group (nothing committed) and writes nothing to any topic;
each version's reference is the profile it was registered with, looked up
in the registry the way the live monitor does, unless ``--reference warm-up``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import IO, Any

from driftline.consumers.monitor import MonitorConfig
from driftline.exceptions import DriftlineError
from driftline.replay.bounds import Bound
from driftline.replay.merge import merge_by_event_time
from driftline.replay.reading import LogReader
from driftline.replay.report import render
from driftline.replay.running import ReplayResult, ReplayRun
from driftline.settings import Settings

REFERENCES = ("registry", "warm-up")


def detector_names() -> list[str]:
    """The names the monitor's detectors put in an alert's ``detector`` field."""
    import driftline.detectors.predictions.river_binary  # noqa: F401  (its detectors count too)
    import driftline.detectors.suite  # noqa: F401
    from driftline.detectors.base import Detector
    from driftline.detectors.features.ks import STATISTICS

    names, todo = set(STATISTICS) | {"rollback"}, list(Detector.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if isinstance(getattr(cls, "name", None), str):
            names.add(cls.name)
    return sorted(names)


@dataclasses.dataclass(frozen=True)
class ReplayOptions:
    model_id: str
    out: Path
    start: Bound | None = None
    end: Bound | None = None
    false_alarm_rate: float | None = None  # None: the settings'
    window: int | None = None
    reference_size: int | None = None
    reference: str = "registry"
    detectors: tuple[str, ...] | None = None  # reported; None: all
    suite: str | None = None  # DRIFTLINE_DETECTORS' form, in its place; None: the settings'
    batch_size: int | None = None
    quiet: bool = False

    def config(self, settings: Settings) -> MonitorConfig:
        """The live monitor's configuration with the options given; a metrics record per batch."""
        base = MonitorConfig.from_settings(settings)
        changes: dict[str, Any] = {"metrics_every": 1}
        for name in ("false_alarm_rate", "window", "reference_size"):
            if getattr(self, name) is not None:
                changes[name] = getattr(self, name)
        if self.suite is not None:
            from driftline.detectors.entries import check_detectors, parse_detectors

            try:
                changes["detectors"] = parse_detectors(self.suite)
                check_detectors(changes["detectors"], changes.get("false_alarm_rate", base.false_alarm_rate))
            except ValueError as e:
                raise DriftlineError(f"--suite: {e}") from None
        return dataclasses.replace(base, **changes)


class Progress:
    """A line on stderr every few seconds of a long replay, and one at the end."""

    def __init__(self, err: IO[str], total: int, quiet: bool, every_s: float = 2.0) -> None:
        self.err, self.total, self.quiet, self.every_s = err, total, quiet, every_s
        self.started = self.last = time.monotonic()
        self.scanned = 0

    def read(self, n: int) -> None:
        self.scanned += n

    def __call__(self, r: ReplayResult, final: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or (not final and now - self.last < self.every_s):
            return
        self.last = now
        rate = r.n_events / max(now - self.started, 1e-9)
        print(f"replay: {r.n_events} events replayed ({rate:,.0f}/s), {self.scanned} of "
              f"{self.total} records read, {len(r.alerts)} alerts"
              + (" - done" if final else ""), file=self.err, flush=True)


def _decoded(records, decode, limit: int, skipped: list[int]):
    from driftline.contract import InvalidEvent

    for rec in records:
        try:
            ev = decode(rec.value, limit)
        except InvalidEvent:
            skipped[0] += 1  # the live monitor sent it to dead-letter
            continue
        yield ev, rec.timestamp


def _alert_row(a: Any, result: ReplayResult) -> dict[str, Any]:
    event_index, prediction_index = result.place(a.event_ts)
    return {"event_index": event_index, "prediction_index": prediction_index, "event_ts": a.event_ts,
            "ts": a.ts, "version": a.model_version, "kind": a.kind, "severity": a.severity,
            "detector": a.detector, "feature": a.feature, "value": a.value, "threshold": a.threshold,
            "status": a.status, "message": a.message}


def _firsts(rows: list[dict[str, Any]]) -> tuple[dict | None, dict[str, dict]]:
    firing = sorted((r for r in rows if r["status"] == "firing"), key=lambda r: r["event_ts"])
    by_kind: dict[str, dict] = {}
    for r in firing:
        by_kind.setdefault(r["kind"], r)
    return (firing[0] if firing else None), by_kind


def run_replay(settings: Settings, options: ReplayOptions, err: IO[str] = sys.stderr) -> dict[str, Any]:
    """Replay, write ``report.html`` and ``summary.json`` under ``options.out``; the summary."""
    from driftline.consumers.profiles import RegistryProfiles
    from driftline.contract import decode_alert, decode_feedback, decode_prediction

    config = options.config(settings)
    batch_size = options.batch_size or settings.batch_size
    out = Path(options.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DriftlineError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    profiles = RegistryProfiles(settings.resolved_registry_url) if options.reference == "registry" else None
    started = time.monotonic()
    skipped = [0]
    limit = settings.max_message_bytes
    try:
        with LogReader(settings, options.model_id, options.start, options.end) as reader:
            reader.resolve()
            t = reader.topics
            progress = Progress(err, reader.total_records, options.quiet)
            run = ReplayRun(options.model_id, config, batch_size, profiles, progress)
            events = merge_by_event_time(
                _decoded(reader.records(t.predictions, progress.read), decode_prediction, limit, skipped),
                _decoded(reader.records(t.feedback, progress.read), decode_feedback, limit, skipped))
            result = run.run(events)
            progress(result, final=True)
            if result.n_events == 0:
                raise DriftlineError(
                    f"no predictions or feedback of model {options.model_id!r} (Kafka key) in "
                    f"{t.predictions} and {t.feedback} between "
                    f"{options.start.describe() if options.start else 'the oldest record'} and "
                    f"{options.end.describe() if options.end else 'the end'}")
            live = []
            if result.first_ts is not None:
                for a, _ in _decoded(reader.records(t.alerts), decode_alert, limit, [0]):
                    if a.model_id == options.model_id and result.first_ts <= a.event_ts <= result.last_ts:
                        live.append(a)
            spans = reader.spans
            t0, t1 = reader.times
    finally:
        if profiles is not None:
            profiles.close()
    seconds = time.monotonic() - started
    wanted = set(options.detectors) if options.detectors else None
    replayed = [_alert_row(a, result) for a in result.alerts if wanted is None or a.detector in wanted]
    live_rows = [_alert_row(a, result) for a in live if wanted is None or a.detector in wanted]
    first, first_by_kind = _firsts(replayed)
    live_first, live_first_by_kind = _firsts(live_rows)
    summary = {
        "model_id": options.model_id,
        "topics": {"predictions": t.predictions, "feedback": t.feedback, "alerts": t.alerts},
        "span": {"from": options.start.describe() if options.start else "the oldest retained record",
                 "to": options.end.describe() if options.end else "the end when the replay started",
                 "from_ms": t0, "to_ms": t1, "first_event_ts": result.first_ts,
                 "last_event_ts": result.last_ts,
                 "offsets": {topic: {str(p): list(span) for p, span in parts.items()}
                             for topic, parts in spans.items() if topic != t.alerts}},
        "events": {"replayed": result.n_events, "predictions": result.n_predictions,
                   "feedback": result.n_feedback, "undecodable": skipped[0],
                   "rejected": result.n_rejected},
        "config": {"false_alarm_rate": config.false_alarm_rate, "window": config.window,
                   "reference_size": config.reference_size, "reference": options.reference,
                   "detectors": sorted(wanted) if wanted else None, "suite": options.suite,
                   "batch_size": batch_size,
                   "monitor": {k: (list(v) if isinstance(v, tuple) else v)
                               for k, v in dataclasses.asdict(config).items()}},
        "versions": [{"event_index": i, "event_ts": ts, "version": v} for i, ts, v in result.versions],
        "alerts": replayed,
        "live_alerts": live_rows,
        "first_alert": first,
        "first_live_alert": live_first,
        "first_alert_by_kind": first_by_kind,
        "first_live_alert_by_kind": live_first_by_kind,
        "same_first_alert": None if first is None or live_first is None else
        first["event_ts"] == live_first["event_ts"] and first["kind"] == live_first["kind"],
        "drift_statistics_reported": any(p.drift for p in result.points),
        "seconds": round(seconds, 3),
        "monitor_seconds": round(result.monitor_s, 3),  # of them, in ModelMonitor.process
        "events_per_s": round(result.n_events / seconds, 1) if seconds > 0 else None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "report.html").write_text(render(summary, result.points))
    return summary

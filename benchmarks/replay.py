"""How fast ``driftline replay`` goes, next to the monitor's batch path in process over the same events.

One model's stream (predictions with 8 numeric features and 1 categorical,
labels for a share of them) is written to a broker twice: alone under one
topic prefix, and among seven other models' streams of the same size under
another (the replay reads every partition and keeps its model's records by
key). In the same run it measures:

- baseline: ``ModelMonitor.process`` alone over the model's decoded events,
  merged by event time, in batches of the worker's batch size with the worker's runtime
  settings (the path of benchmarks/throughput_monitor.py ``in_process``),
  wall-clock seconds;
- replay, the model alone on its topics: ``run_replay`` end to end (reading
  with aiokafka, decoding, merging, the monitor, the live alerts, the report);
- replay, one of eight models on its topics.

The ratio column is each row's events/s over the baseline's.

Usage: python benchmarks/replay.py [--quick] [--predictions 100000] [--batch-size 500]
Uses DRIFTLINE_KAFKA_BOOTSTRAP if set, else starts a local broker on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from benchmarks import throughput_runs as runs  # noqa: E402
from driftline.kafka_admin import ensure_topics  # noqa: E402
from driftline.settings import Settings  # noqa: E402


def in_process(stream: runs.Stream, model: str, settings: Settings) -> tuple[int, float]:
    """``(events, wall seconds)`` of the batch path over ``model``'s decoded events."""
    from driftline.consumers.monitor import ModelMonitor, MonitorConfig
    from driftline.contract import decode_feedback, decode_prediction
    from driftline.replay.merge import merge_by_event_time

    key = model.encode()
    preds = [(decode_prediction(v), 0) for k, v in stream.records["predictions"] if k == key]
    labels = [(decode_feedback(v), 0) for k, v in stream.records["feedback"] if k == key]
    events = [ev for ev, _ in merge_by_event_time(preds, labels)]
    from driftline.consumers.worker.loop import _tune_runtime

    _tune_runtime()
    monitor = ModelMonitor(model, MonitorConfig.from_settings(settings))
    size = settings.batch_size
    t = time.perf_counter()
    for i in range(0, len(events), size):
        monitor.process(events[i:i + size], time.time_ns() // 1_000_000)
    return len(events), time.perf_counter() - t


def replay(settings: Settings, model: str, out: Path) -> tuple[int, float, float]:
    """``(events, wall seconds, seconds in the monitor)`` of one replay."""
    from driftline.replay.command import ReplayOptions, run_replay

    t = time.perf_counter()
    s = run_replay(settings, ReplayOptions(model, out, reference="warm-up", quiet=True))
    return s["events"]["replayed"], time.perf_counter() - t, s["monitor_seconds"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small stream (20000 predictions)")
    ap.add_argument("--predictions", type=int, default=None, help="the model's predictions (100000)")
    ap.add_argument("--batch-size", type=int, default=500, help="DRIFTLINE_BATCH_SIZE")
    args = ap.parse_args(argv)
    n = args.predictions or (20_000 if args.quick else 100_000)
    if n < 1 or args.batch_size < 1:
        ap.error("--predictions and --batch-size must be >= 1")
    from driftline.broker import given_or_local

    models = runs.spread_models(4, 2)
    model = models[0]
    alone = runs.make_stream(n, 0.8, [model])
    crowd = runs.make_stream(n * len(models), 0.8, models)
    run_id = uuid.uuid4().hex[:6]
    with given_or_local("driftline-bench-") as bootstrap, tempfile.TemporaryDirectory() as home:
        base = Settings.from_env().replace(kafka_bootstrap=bootstrap, partitions=4,
                                           batch_size=args.batch_size, home=home)
        one, many = (base.replace(topic_prefix=f"bench{run_id}-{name}.") for name in ("one", "many"))
        for s, stream in ((one, alone), (many, crowd)):
            ensure_topics(s)
            asyncio.run(runs.preload(s, stream))
        rows = []
        events, seconds = in_process(alone, model, one)
        rows.append(("baseline: ModelMonitor.process in batches (in process)", events, seconds, None))
        ev, sec, mon = replay(one, model, Path(home) / "one")
        rows.append(("replay, the model alone on its topics", ev, sec, mon))
        ev, sec, mon = replay(many, model, Path(home) / "many")
        rows.append((f"replay, one of {len(models)} models on its topics", ev, sec, mon))
    base_rate = rows[0][1] / rows[0][2]
    print(f"{'what':58s} {'events':>8s} {'seconds':>8s} {'events/s':>10s} {'ratio':>6s} {'in monitor s':>13s}")
    for what, events, seconds, mon in rows:
        rate = events / seconds
        print(f"{what:58s} {events:8d} {seconds:8.2f} {rate:10.0f} {rate / base_rate:6.2f} "
              f"{'' if mon is None else f'{mon:13.2f}'}")


if __name__ == "__main__":
    main()

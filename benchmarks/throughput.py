"""Events per second through the monitor on a real broker, next to plain consumers of the same topics.

One stream (predictions with 8 numeric features and 1 categorical, labels for
a share of them) over models whose ids hash evenly to the 4 partitions, is
written byte for byte under four topic prefixes: one read by the plain loops,
and one for each monitor run, so no run starts from another's state or
offsets. In the same run it measures:

- baseline: a plain aiokafka consumer reading both input topics from the start
  and decoding every message with the contract's decoders
  (``decode_prediction`` / ``decode_feedback``), the fastest of ``--passes``;
- the same loop with ``json.loads`` (no checks), also the fastest of its passes;
- floor for a processor: the baseline loop that also writes as many records as
  the 1-worker monitor wrote to each of its output topics (labeled, metrics,
  alerts, retrain-requests, dead-letter, monitor-state; its own records, to
  ``floor-<output>`` topics) with an idempotent acks=all producer in batches,
  and every commit interval awaits them, then commits;
- monitor, 1 worker / 2 workers / 1 worker exactly_once: ``driftline monitor``
  child processes in one consumer group. They start on empty input topics;
  once every worker holds its partitions the stream is written (as fast as
  the broker takes it) and the run is timed from the group's first commit to
  the commit reaching the end of both topics, so start-up and the rebalance
  as the second worker joins are not counted (both are printed apart). Each
  worker's peak RSS (VmHWM) and CPU time from the preload on are shown, and
  all the stream's events per CPU-second of the workers (which the machine's
  other load moves less than events/s);
- in process: ``ModelMonitor.process`` alone over the same decoded events, each
  model's events in batches of the worker's batch size, with the worker's
  runtime settings; its seconds are CPU time (decoding not included).

The ratio column is each row's events/s over the baseline's. The last line is
the 1-worker at-least-once monitor against the baseline.

Usage: python benchmarks/throughput.py [--quick] [--predictions 200000] [--feedback 0.8]
           [--models-per-partition 2] [--batch-size 1000] [--passes 3] [--timeout 1800]
Uses DRIFTLINE_KAFKA_BOOTSTRAP (and the environment's Kafka security settings)
if set, else starts a local broker on free ports. DRIFTLINE_BENCH_PROFILE (e.g.
``py-spy record -o prof.txt -f raw --``) runs each monitor worker under a profiler.
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

from benchmarks import throughput_monitor as monitor  # noqa: E402
from benchmarks import throughput_runs as runs  # noqa: E402
from driftline.kafka_admin import ensure_topics  # noqa: E402
from driftline.settings import Settings  # noqa: E402

PARTITIONS = 4
QUICK = {"predictions": 20_000, "passes": 1}


def broker():
    from driftline.broker import given_or_local

    return given_or_local("driftline-bench-")


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"a small stream ({QUICK['predictions']} predictions), one pass of each raw loop")
    ap.add_argument("--predictions", type=int, default=None, help="predictions in the stream (200000)")
    ap.add_argument("--feedback", type=float, default=0.8, help="share of predictions that get a label")
    ap.add_argument("--models-per-partition", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=1000, help="the monitor's DRIFTLINE_BATCH_SIZE")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds each monitor run may take")
    ap.add_argument("--passes", type=int, default=None, help="passes of each raw loop; the fastest is shown (3)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for name, full in (("predictions", 200_000), ("passes", 3)):
        if getattr(args, name) is None:
            setattr(args, name, QUICK[name] if args.quick else full)
    if args.predictions < 1 or not 0 <= args.feedback <= 1 or args.models_per_partition < 1 or args.batch_size < 1 \
            or args.passes < 1:
        ap.error("--predictions, --models-per-partition, --batch-size and --passes must be >= 1, "
                 "--feedback in [0, 1]")
    return args


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    models = runs.spread_models(PARTITIONS, args.models_per_partition)
    stream = runs.make_stream(args.predictions, args.feedback, models, args.seed)
    total = stream.total
    run_id = uuid.uuid4().hex[:6]
    with broker() as bootstrap, tempfile.TemporaryDirectory() as home:
        # The environment's Kafka security settings, on the broker given or started.
        base = Settings.from_env().replace(kafka_bootstrap=bootstrap, partitions=PARTITIONS,
                                           batch_size=args.batch_size, http_port=0,
                                           processing_guarantee="at_least_once")
        raw, one, two, eos = (base.replace(topic_prefix=f"bench{run_id}-{name}.", home=f"{home}/{name}")
                              for name in ("raw", "1w", "2w", "eos"))
        eos = eos.replace(processing_guarantee="exactly_once")
        for s in (raw, one, two, eos):
            ensure_topics(s)
        t = time.perf_counter()
        asyncio.run(runs.preload(raw, stream))
        print(f"preloaded {total} events ({stream.count('predictions')} predictions, "
              f"{stream.count('feedback')} labels, {len(models)} models on {PARTITIONS} partitions) "
              f"in {time.perf_counter() - t:.1f}s")

        def load(settings: Settings):
            return lambda: asyncio.run(runs.preload(settings, stream))

        rows = []
        base_s = min(asyncio.run(runs.raw_loop(raw, total, "contract")) for _ in range(args.passes))
        rows.append(("baseline: raw aiokafka consume + contract decode", total, base_s, None))
        json_s = min(asyncio.run(runs.raw_loop(raw, total, "json")) for _ in range(args.passes))
        rows.append(("raw aiokafka consume + json.loads", total, json_s, None))

        mon1 = monitor.monitor_run(one, 1, load(one), args.timeout)
        counts = runs.output_counts(one)
        outputs = asyncio.run(runs.read_outputs(one))
        runs.create_floor_topics(raw, outputs)
        floor_s = asyncio.run(runs.floor_loop(raw, total, outputs, counts))
        written = sum(counts.values())
        rows.append((f"floor: consume + decode + produce {written} outputs", total, floor_s, None))
        rows.append(("monitor, 1 worker (first to last commit)", mon1.events, mon1.seconds, mon1))
        mon2 = monitor.monitor_run(two, 2, load(two), args.timeout)
        rows.append(("monitor, 2 workers", mon2.events, mon2.seconds, mon2))
        mon_eos = monitor.monitor_run(eos, 1, load(eos), args.timeout)
        rows.append(("monitor, 1 worker, exactly_once", mon_eos.events, mon_eos.seconds, mon_eos))
    events, cpu = monitor.in_process(stream, one)
    rows.append((f"in process: ModelMonitor.process, batch {args.batch_size} (CPU)", events, cpu, None))

    base_rate = total / base_s
    print(f"{'what':58s} {'events':>8s} {'seconds':>8s} {'events/s':>10s} {'ratio':>6s} "
          f"{'peak RSS MiB':>13s} {'CPU s':>10s} {'ev/CPU-s':>9s}")
    for what, n, seconds, mon in rows:
        rate = n / seconds if seconds > 0 else float("nan")
        rss = "+".join(f"{r:.0f}" for r in mon.peak_rss_mib) if mon else ""
        cpu_s = "+".join(f"{c:.1f}" for c in mon.cpu_s) if mon else ""
        per_cpu = f"{mon.per_cpu_s:.0f}" if mon else ""
        print(f"{what:58s} {n:8d} {seconds:8.2f} {rate:10.0f} {rate / base_rate:6.3f} {rss:>13s} {cpu_s:>10s} "
              f"{per_cpu:>9s}")
    print("outputs of the 1-worker monitor: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print("start-up to holding partitions / preload and run to the last commit: " + ", ".join(
        f"{what} {mon.startup_s:.1f}s / {mon.total_s:.1f}s"
        for what, mon in (("1 worker", mon1), ("2 workers", mon2), ("exactly_once", mon_eos))))
    mon_rate = mon1.events / mon1.seconds if mon1.seconds > 0 else float("nan")
    print(f"ratio monitor / baseline: {mon_rate / base_rate:.3f}")


if __name__ == "__main__":
    main()

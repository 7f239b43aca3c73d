"""Memory and speed of one monitor worker's models, in process, at 1, 100 and 1,000 models.

    python benchmarks/memory.py [--models 1,100,1000] [--features 20] [--events 1500] [--json]

Each model count runs in a child process of its own, so each RSS figure is
that process's alone. Every model gets the same stream shape: ``--events``
predictions with ``--features`` numeric features (standard normal, a new
draw per model) and a label for 4 of every 5, fed to ``ModelMonitor.process``
in batches of 500 per model, round robin over the models, as one worker
would see a topic of many models. Per model count it prints:

- RSS after the stream, and per model above the 1-model run (whose first
  model also pays for the libraries it loads);
- the state one model holds, as the bytes of its records on the state topic
  (the mean of the first 20 models);
- events per CPU-second through ``process`` (decoding not included), and the
  same with arming apart: the batch that fills a model's reference (and
  calibrates its detectors) is timed on its own.

The baseline is the 1-model run of the same invocation: the last lines give
``events/s at N models / at 1 model`` and the RSS goal (512 MiB at 1,000
models with 20 features) next to what was measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

GOAL_RSS_MIB = 512.0
BATCH = 500
T0 = 1_700_000_000_000


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def run_one(models: int, features: int, events: int, seed: int) -> dict[str, float]:
    """The figures of one model count, measured in this process."""
    import gc

    import numpy as np

    from driftline.consumers.monitor import ModelMonitor, MonitorConfig
    from driftline.consumers.state.records import encode_model
    from driftline.consumers.worker.loop import _tune_runtime
    from driftline.contract import Feedback, Prediction

    _tune_runtime()
    rng = np.random.default_rng(seed)
    names = [f"x{c}" for c in range(features)]
    before = _rss_mib()
    config = MonitorConfig()
    monitors = {f"m{i}": ModelMonitor(f"m{i}", config) for i in range(models)}
    cpu = arming_cpu = 0.0
    n = arming_n = 0
    for start in range(0, events, BATCH):
        for model_id, monitor in monitors.items():
            X = rng.normal(size=(BATCH, features))
            batch: list[Prediction | Feedback] = []
            for j in range(BATCH):
                k = start + j
                batch.append(Prediction(f"p{k}", model_id, "1", T0 + k * 10,
                                        dict(zip(names, X[j].tolist())), int(X[j, 0] > 0)))
                if k % 5:
                    batch.append(Feedback(f"f{k}", f"p{k}", model_id, T0 + k * 10 + 5,
                                          int(X[j, 0] + X[j, 1] > 0)))
            seen = 0 if monitor.suite is None else monitor.suite.inputs_seen
            t = time.process_time()
            monitor.process(batch, now_ms=T0 + start * 10)
            spent = time.process_time() - t
            cpu += spent
            n += len(batch)
            if seen < config.reference_size <= monitor.suite.inputs_seen:
                arming_cpu += spent
                arming_n += len(batch)
    gc.collect()
    after = _rss_mib()
    sampled = list(monitors.items())[:20]
    state = sum(sum(len(v) for v in encode_model(mid, m.state_dict(), {}, 0).values.values())
                for mid, m in sampled) / len(sampled)
    steady = (n - arming_n) / (cpu - arming_cpu) if cpu > arming_cpu and n > arming_n else float("nan")
    return {"models": models, "rss_mib": after, "rss_added_mib": after - before,
            "rss_kib_per_model": (after - before) * 1024 / models, "state_kib_per_model": state / 1024,
            "events_per_cpu_s": n / cpu, "steady_events_per_cpu_s": steady,
            "arming_cpu_s_per_model": arming_cpu / models}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="1,100,1000", help="model counts, comma-separated (1,100,1000)")
    parser.add_argument("--features", type=int, default=20, help="numeric features per prediction (20)")
    parser.add_argument("--events", type=int, default=1500, help="predictions per model (1500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON object per model count")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.events < BATCH or args.features < 1:
        parser.error(f"--events must be at least {BATCH} and --features at least 1")
    if args.child is not None:
        print(json.dumps(run_one(args.child, args.features, args.events, args.seed)))
        return 0
    try:
        counts = sorted({int(c) for c in args.models.split(",")})
    except ValueError:
        parser.error(f"--models: a comma-separated list of model counts, not {args.models!r}")
    if not counts or counts[0] < 1:
        parser.error("--models: counts of at least 1")
    if counts[0] != 1:
        counts.insert(0, 1)  # the baseline
    rows = []
    for count in counts:
        done = subprocess.run([sys.executable, __file__, "--child", str(count), "--features", str(args.features),
                               "--events", str(args.events), "--seed", str(args.seed)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"memory.py: the run with {count} models failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        if args.json:
            print(json.dumps(rows[-1]))
    if args.json:
        return 0
    print(f"monitor memory and speed in process: {args.features} numeric features, {args.events} predictions "
          f"per model (80% labelled), batches of {BATCH}")
    base = rows[0]
    for r in rows:
        # Above the 1-model run: the first model also pays for the libraries it loads.
        r["marginal_kib"] = ((r["rss_mib"] - base["rss_mib"]) * 1024 / (r["models"] - 1) if r["models"] > 1
                             else float("nan"))
    print(f"{'models':>7} {'RSS MiB':>9} {'KiB/model':>10} {'state KiB/model':>16} {'events/CPU-s':>13} "
          f"{'armed ev/CPU-s':>15} {'arming CPU-s/model':>19}")
    for r in rows:
        marginal = "-" if r["models"] == 1 else f"{r['marginal_kib']:.0f}"
        print(f"{r['models']:>7} {r['rss_mib']:>9.0f} {marginal:>10} "
              f"{r['state_kib_per_model']:>16.0f} {r['events_per_cpu_s']:>13,.0f} "
              f"{r['steady_events_per_cpu_s']:>15,.0f} {r['arming_cpu_s_per_model']:>19.2f}")
    for r in rows[1:]:
        print(f"events/s at {r['models']} models / at 1 model: {r['events_per_cpu_s'] / base['events_per_cpu_s']:.2f} "
              f"(goal >= 0.5); armed models only: "
              f"{r['steady_events_per_cpu_s'] / base['steady_events_per_cpu_s']:.2f}")
    largest = rows[-1]
    scaled = base["rss_mib"] + largest["marginal_kib"] / 1024 * 999
    met = "met" if largest["models"] >= 1000 and largest["rss_mib"] < GOAL_RSS_MIB else "not met"
    print(f"RSS at {largest['models']} models: {largest['rss_mib']:.0f} MiB (about {scaled:.0f} MiB at 1,000 "
          f"at this rate); goal < {GOAL_RSS_MIB:.0f} MiB at 1,000 models x 20 features: {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure false alarms on stationary streams and delays after a change.

Too slow for the test suite (a few minutes); run it when a detector or a
default changes:

    python -m tests.detectors.calibrate [--events 1000000] [--seeds 10] [--only NumericDrift]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from driftline.detectors import AccuracyDrop, CategoricalDrift, ErrorRateDrift, NumericDrift
from tests.detectors.cases import feed as feed_batches

BATCH = 500


def feed(det, data, batch=BATCH):
    """Global row indices of every detection (``(index, detection)``)."""
    return feed_batches(det, data, batch)


# Stationary numeric streams: one column generator per kind, (rng, rows, columns) -> values.
NUMERIC_STREAMS = {
    "normal": lambda rng, n, d: rng.normal(size=(n, d)),
    # Counts from nearly binary (mean 0.2) to mean 5: ties everywhere.
    "integer": lambda rng, n, d: rng.poisson(np.linspace(0.2, 5.0, d), size=(n, d)).astype(float),
    # Amounts rounded to whole units: ties among the small values, few among the large.
    "rounded": lambda rng, n, d: np.round(rng.lognormal(2.0, 1.0, size=(n, d))),
    "heavy-tailed": lambda rng, n, d: rng.standard_t(1.5, size=(n, d)),
    "skewed": lambda rng, n, d: rng.gamma(0.5, size=(n, d)),
}


def numeric_false_alarms(kind, events, seeds, d=10, first_seed=0, **params):
    """False alarms per statistic over ``seeds`` streams of ``events`` rows."""
    counts: dict[str, list[int]] = {}
    for seed in range(first_seed, first_seed + seeds):
        rng = np.random.default_rng(seed)
        det = NumericDrift([f"x{j}" for j in range(d)], seed=seed, **params)
        per_stat = dict.fromkeys(det.statistics, 0)
        for _ in range(events // 100_000):
            for _, found in feed(det, NUMERIC_STREAMS[kind](rng, 100_000, d), batch=5000):
                per_stat[found.detector] += 1
        for stat, k in per_stat.items():
            counts.setdefault(stat, []).append(k)
    total = [sum(ks) for ks in zip(*counts.values())]
    expected = events * seeds * det.false_alarm_rate
    return f"{alarms(total)}, expected {expected:g}; " + ", ".join(
        f"{stat} {sum(k)}" for stat, k in counts.items())


def numeric_delay(trials, d=10, shift=0.5, scale=1.0, horizon=10_000, **params):
    """Rows from a change of feature x0 (mean + ``shift`` sd, sd * ``scale``) to its first detection."""
    delays = []
    for seed in range(trials):
        rng = np.random.default_rng(1000 + seed)
        det = NumericDrift([f"x{j}" for j in range(d)], seed=seed, **params)
        start = 3000 + int(rng.integers(0, 500))  # not aligned with the windows
        data = rng.normal(size=(start + horizon, d))
        data[start:, 0] = data[start:, 0] * scale + shift
        hits = [i for i, found in feed(det, data) if i >= start and found.feature == "x0"]
        delays.append(hits[0] - start if hits else math.inf)
    return delays


def numeric_runs(n, s):
    runs = [(f"NumericDrift defaults, 10 {kind} features: false alarms in {s} x {n} rows",
             lambda kind=kind: numeric_false_alarms(kind, n, s)) for kind in NUMERIC_STREAMS]
    changes = [("mean +0.25 sd", 0.25, 1.0), ("mean +0.5 sd", 0.5, 1.0), ("mean +1 sd", 1.0, 1.0),
               ("sd x 1.25", 0.0, 1.25), ("sd x 1.5", 0.0, 1.5)]
    for label, shift, scale in changes:
        for stats in (("ks", "psi"), ("ks",)):
            runs.append((f"NumericDrift {'+'.join(stats)}: rows to detect {label} in 1 of 10 features",
                         lambda shift=shift, scale=scale, stats=stats: summary(
                             numeric_delay(100, shift=shift, scale=scale, statistics=stats))))
    return runs


def categorical_false_alarms(events, seeds, zipf):
    counts = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        if zipf:  # long tail: categories unseen in the reference keep coming
            p = 1.0 / np.arange(1, 5001) ** 1.1
        else:
            p = np.array([0.5, 0.3, 0.15, 0.05])
        p /= p.sum()
        cats = np.array([f"c{k}" for k in range(len(p))], dtype=object)
        det = CategoricalDrift(["a", "b"])
        counts.append(sum(len(feed(det, cats[rng.choice(len(p), p=p, size=(100_000, 2))]))
                          for _ in range(events // 100_000)))
    return alarms(counts)


def error_false_alarms(events, seeds, p):
    counts = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        det = ErrorRateDrift()
        counts.append(sum(len(feed(det, rng.random(100_000) < p, batch=10_000))
                          for _ in range(events // 100_000)))
    return alarms(counts)


def error_delay(seeds, before=0.2, after=0.5):
    delays = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        data = np.r_[rng.random(5000) < before, rng.random(5000) < after]
        hits = [i for i, _ in feed(ErrorRateDrift(), data, batch=100) if i >= 5000]
        delays.append(hits[0] - 5000 if hits else math.inf)
    return delays


def accuracy_false_alarms(events, seeds, p=0.9):
    counts = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        counts.append(len(feed(AccuracyDrop(), rng.random(events) < p, batch=100_000)))
    return alarms(counts)


def accuracy_delay(seeds, before=0.9, after=0.6):
    delays = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        start = 2000 + int(rng.integers(0, 500))
        data = np.r_[rng.random(start) < before, rng.random(3000) < after]
        hits = [i for i, _ in feed(AccuracyDrop(), data, batch=100) if i >= start]
        delays.append(hits[0] - start if hits else math.inf)
    return delays


def alarms(per_stream):
    per_stream = list(per_stream)
    hit = sum(1 for k in per_stream if k)
    return f"{sum(per_stream)} (in {hit} of {len(per_stream)} streams)"


def summary(delays):
    d = np.array(delays, dtype=float)
    # "higher" takes an order statistic instead of interpolating, so a miss (inf) stays inf.
    return (f"median {np.percentile(d, 50, method='higher'):.0f}, "
            f"90th percentile {np.percentile(d, 90, method='higher'):.0f}, "
            f"max {d.max():.0f}, missed {int(np.isinf(d).sum())} of {len(d)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events per stationary stream")
    parser.add_argument("--seeds", type=int, default=10, help="streams per measurement")
    parser.add_argument("--only", default="", help="run only the measurements whose label contains this")
    args = parser.parse_args()
    n, s = args.events, args.seeds
    runs = [
        *numeric_runs(n, s),
        (f"CategoricalDrift, 2 features of 4 categories: false alarms in {s} x {n} rows",
         lambda: categorical_false_alarms(n, s, zipf=False)),
        (f"CategoricalDrift, 2 Zipf(1.1) features of 5000 categories: false alarms in {s} x {n} rows",
         lambda: categorical_false_alarms(n, s, zipf=True)),
        (f"ErrorRateDrift defaults, Bernoulli(0.2): false alarms in {s} x {n} events",
         lambda: error_false_alarms(n, s, 0.2)),
        (f"ErrorRateDrift defaults, Bernoulli(0.05): false alarms in {s} x {n} events",
         lambda: error_false_alarms(n, s, 0.05)),
        ("ErrorRateDrift: events to detect 0.2 -> 0.5", lambda: summary(error_delay(100))),
        ("ErrorRateDrift: events to detect 0.2 -> 0.3", lambda: summary(error_delay(100, 0.2, 0.3))),
        (f"AccuracyDrop defaults, accuracy 0.9: false alarms in {s} x {n} events",
         lambda: accuracy_false_alarms(n, s)),
        ("AccuracyDrop: events to detect 0.9 -> 0.6", lambda: summary(accuracy_delay(100))),
    ]
    for label, run in runs:
        if args.only not in label:
            continue
        t = time.perf_counter()
        result = run()
        print(f"{label}: {result} ({time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

"""Measure false alarms on stationary streams and delays after a change.

Too slow for the test suite (a few minutes); run it when a detector or a
default changes:

    python -m tests.detectors.calibrate [--events 1000000] [--seeds 10]
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


def numeric_false_alarms(events, seeds, d=10):
    counts = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        det = NumericDrift([f"x{j}" for j in range(d)])
        counts.append(sum(len(feed(det, rng.normal(size=(100_000, d))))
                          for _ in range(events // 100_000)))
    return alarms(counts)


def numeric_delay(seeds, d=10, shift=0.5):
    delays = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        det = NumericDrift([f"x{j}" for j in range(d)])
        data = rng.normal(size=(6000, d))
        start = 3000 + int(rng.integers(0, 500))  # not aligned with the windows
        data[start:, 0] += shift
        hits = [i for i, det_ in feed(det, data) if i >= start and det_.feature == "x0"]
        delays.append(hits[0] - start if hits else math.inf)
    return delays


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
    return (f"median {np.median(d):.0f}, 90th percentile {np.percentile(d, 90):.0f}, "
            f"max {d.max():.0f}, missed {int(np.isinf(d).sum())} of {len(d)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events per stationary stream")
    parser.add_argument("--seeds", type=int, default=10, help="streams per measurement")
    args = parser.parse_args()
    n, s = args.events, args.seeds
    runs = [
        (f"NumericDrift defaults, 10 normal features: false alarms in {s} x {n} rows",
         lambda: numeric_false_alarms(n, s)),
        ("NumericDrift: rows to detect a 0.5 sd mean shift in 1 of 10 features",
         lambda: summary(numeric_delay(50))),
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
        t = time.perf_counter()
        result = run()
        print(f"{label}: {result} ({time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

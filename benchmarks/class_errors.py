"""Errors watched per predicted class next to the whole error stream alone, at one budget.

A classifier's suite watches its errors twice, each at half the ADWIN budget:
on the whole stream (``ErrorRateDrift``) and on the stream of each predicted
class (``ClassErrorDrift``). The baseline is what the suite ran before: one
ADWIN on the whole stream at the whole budget. Both are run in one go:

1. Delay on river's SEA (10% label noise), the drifts of ``benchmarks/loop.py``
   in its order (thresholds 8 -> 7 -> 9.5 -> 9): the default trainer learns
   1,000 labels of the old concept, answers 5,000 more of it and then 8,000 of
   the new one; labels from the drift to the first detection (median, 90th
   percentile, drifts never found in the 8,000), and false alarms before it.
2. False alarms on stationary error streams whose classes have different
   error rates, at ten times the suite's delta (at the suite's own delta a
   false alarm comes about once in 10^7 labels; scaling the budget up scales
   both arms' alarms alike and makes them countable), per 10^6 labels.

Usage: python benchmarks/class_errors.py [--quick] [--json] [--seeds S] [--events N]
A full run (10 seeds, 2 x 10^7 labels per stream) takes about 3 minutes on one core.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from driftline.detectors import ClassErrorDrift, ErrorRateDrift  # noqa: E402
from driftline.detectors.predictions.class_error import error_pairs  # noqa: E402
from driftline.detectors.profile import PREDICTION  # noqa: E402
from driftline.detectors.suite import DriftSuite  # noqa: E402

SEA_ORDER = (0, 2, 3, 1)  # river's SEA variants: thresholds 8, 7, 9.5, 9
BEFORE, AFTER, TRAIN = 5000, 8000, 1000
BLOCK = 100  # labels per update, as the monitor gets them in batches
# Stationary error streams: (share of the predictions, error rate) per class.
MIXES = {
    "2 classes, 5% and 25% wrong": [(0.4, 0.05), (0.6, 0.25)],
    "2 classes, 2% and 15% wrong": [(0.3, 0.02), (0.7, 0.15)],
    "5 classes, 1% to 30% wrong": [(0.2, 0.01), (0.2, 0.05), (0.2, 0.1), (0.2, 0.2), (0.2, 0.3)],
    "2 classes, 20% wrong each": [(0.5, 0.2), (0.5, 0.2)],
}


class Arm:
    """Detectors fed the same labels; ``found`` is True once any has fired."""

    def __init__(self, whole_delta: float, class_delta: float | None) -> None:
        self.whole = ErrorRateDrift(delta=whole_delta)
        self.classes = ClassErrorDrift(delta=class_delta) if class_delta else None
        self.alarms = 0

    def update(self, errors: np.ndarray, predicted: np.ndarray) -> bool:
        self.whole.update(errors)
        found = len(self.whole.detections)
        if self.classes is not None:
            self.classes.update(error_pairs(errors, predicted))
            found += len(self.classes.detections)
        self.alarms += found
        return found > 0


def arms() -> dict[str, tuple[float, float | None]]:
    """The suite's two members at its default budget, and the one ADWIN that had it all."""
    suite = DriftSuite(["x"], [PREDICTION])
    half = suite.error_rate.delta
    return {"whole stream (baseline)": (half + suite.class_errors.delta, None),
            "whole + per class (suite)": (half, suite.class_errors.delta)}


def sea(variant: int, n: int, seed: int) -> tuple[list[dict], np.ndarray]:
    from river.datasets import synth

    rows = list(itertools.islice(synth.SEA(variant=variant, noise=0.1, seed=seed), n))
    return [x for x, _ in rows], np.array([int(y) for _, y in rows])


def sea_delays(seeds: int) -> dict[tuple[int, str], list[tuple[int, int]]]:
    """Per (drift, arm): (labels to the first detection after the drift, alarms before it)."""
    from driftline.retrainer.learners.trainers import river_default

    out: dict[tuple[int, str], list[tuple[int, int]]] = {}
    for seed, drift in itertools.product(range(seeds), range(3)):
        old, new = SEA_ORDER[drift], SEA_ORDER[drift + 1]
        X, y = sea(old, TRAIN, 1000 + 7 * seed + drift)
        frame = pd.DataFrame(X).assign(label=y)
        model = river_default(frame, list(X[0]))
        Xa, ya = sea(old, BEFORE, 2000 + 7 * seed + drift)
        Xb, yb = sea(new, AFTER, 3000 + 7 * seed + drift)
        predicted = np.asarray(model.predict_many(Xa + Xb)).astype(int)
        errors = (predicted != np.r_[ya, yb]).astype(float)
        for name, deltas in arms().items():
            arm, delay, before = Arm(*deltas), None, 0
            for start in range(0, BEFORE + AFTER, BLOCK):
                block = slice(start, start + BLOCK)
                if arm.update(errors[block], predicted[block]):
                    if start + BLOCK <= BEFORE:
                        before += 1
                    else:
                        delay = start + BLOCK - BEFORE
                        break
            out.setdefault((drift, name), []).append((delay, before))
    return out


def stationary_alarms(events: int, scale: float, seed: int = 1) -> dict[tuple[str, str], int]:
    out = {}
    for mix_name, mix in MIXES.items():
        share = np.array([s for s, _ in mix])
        rate = np.array([r for _, r in mix])
        rng = np.random.default_rng(seed)
        runs = {name: Arm(w * scale, c * scale if c else None) for name, (w, c) in arms().items()}
        for _ in range(events // 100_000):
            predicted = rng.choice(len(mix), size=100_000, p=share / share.sum())
            errors = (rng.random(100_000) < rate[predicted]).astype(float)
            for arm in runs.values():
                arm.update(errors, predicted)
        out.update({(mix_name, name): arm.alarms for name, arm in runs.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 seeds and 10^6 labels per stream")
    ap.add_argument("--json", action="store_true", help="one JSON object per row")
    ap.add_argument("--seeds", type=int, default=None, help="SEA draws per drift (default 10)")
    ap.add_argument("--events", type=float, default=None, help="labels per stationary stream")
    args = ap.parse_args(argv)
    seeds = args.seeds or (3 if args.quick else 10)
    events = int(args.events or (1e6 if args.quick else 2e7))
    if seeds < 1 or events < 100_000:
        ap.error("--seeds must be at least 1 and --events at least 100000")
    started = time.perf_counter()
    rows = []
    for (drift, name), found in sorted(sea_delays(seeds).items()):
        delays = np.array([AFTER if d is None else d for d, _ in found], dtype=float)
        rows.append({"table": "sea_delay", "drift": drift + 1, "arm": name,
                     "median_labels": float(np.median(delays)),
                     "p90_labels": float(np.percentile(delays, 90)),
                     "missed": sum(d is None for d, _ in found), "draws": len(found),
                     "alarms_before": sum(b for _, b in found)})
    for (mix, name), alarms in stationary_alarms(events, 10.0).items():
        rows.append({"table": "false_alarms", "stream": mix, "arm": name, "labels": events,
                     "alarms": alarms, "per_million": alarms / events * 1e6})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"SEA, labels from the drift to the first detection ({seeds} draws per drift; "
          f"a miss counts {AFTER})")
    print(f"{'drift':<7}{'arm':<28}{'median':>8}{'p90':>8}{'missed':>8}{'false before':>14}")
    for r in (r for r in rows if r["table"] == "sea_delay"):
        print(f"{r['drift']:<7}{r['arm']:<28}{r['median_labels']:>8.0f}{r['p90_labels']:>8.0f}"
              f"{r['missed']:>8}{r['alarms_before']:>14}")
    print(f"\nStationary error streams, {events:.0e} labels each, at 10x the suite's delta")
    print(f"{'stream':<30}{'arm':<28}{'alarms':>8}{'per 1e6':>9}")
    for r in (r for r in rows if r["table"] == "false_alarms"):
        print(f"{r['stream']:<30}{r['arm']:<28}{r['alarms']:>8}{r['per_million']:>9.2f}")
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

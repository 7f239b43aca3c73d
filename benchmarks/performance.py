"""AccuracyDrop and ErrorIncrease: false alarms per labelled item and delays, next to naive bounds.

    python -m benchmarks.performance [--items 20000000] [--seeds 50]

With the defaults (window 500, false_alarm_rate 1e-6 per item, so the
target is ``items / 10^6`` false alarms), for each baseline a model version
can bring: exact (the true value), from the gate's holdout of 300 rows with
``baseline_n=300``, the same holdout taken as exact (the baseline measured
in the same run: what ignoring the holdout's own noise costs), and measured
on the first window. Each stream of 10^6 items draws its own holdout.

ErrorIncrease is also run with a normal bound instead of its gamma on the
same windows, for residuals that are normal (absolute and squared errors),
Student t with 5 degrees of freedom and Laplace.

Delays: labelled items from a change (at a random point after 3000 items)
to the first detection, with the holdout baseline, over ``seeds`` streams.

Measured (2 x 10^7 items, target 20; normal bound in brackets):

- AccuracyDrop at accuracy 0.9 / 0.97: exact baseline 12 / 2; holdout with
  baseline_n 0 / 1; the same holdout taken as exact 268 / 762; first
  window 109 / 32. A measured baseline holds the rate only on average over
  baselines (the exact computation in tests/detectors/predictions/test_accuracy.py):
  the rare stream whose baseline came out high alarms for its whole life,
  so 20 streams show either nothing or a lot.
- ErrorIncrease, exact / holdout / first-window baseline: absolute normal
  15 (24) / 0 (2) / 3 (8); squared normal 12 (36) / 2 (9) / 12 (29);
  absolute t5 28 (38) / 33 (53) / 10 (21); absolute Laplace 23 (32) /
  0 (2) / 119 (186). The gamma beats the normal bound everywhere; heavy
  tails (t5) run up to 1.7 times the target.
- Delays with a 300-row holdout: accuracy 0.9 -> 0.8 median 745 items
  (90th percentile 1638, 3 of 50 missed within 5000), 0.9 -> 0.85 1664
  (34 missed); residual sd x1.5 406 (639), x1.2 878 (2603, 4 missed).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from driftline.detectors import AccuracyDrop, ErrorIncrease
from driftline.detectors._stats import normal_isf
from tests.detectors.cases import feed

STREAM = 1_000_000
HOLDOUT = 300


class NormalBound(ErrorIncrease):
    """ErrorIncrease with the textbook bound ``mean + z sd``: the naive baseline."""

    def upper_bound(self, alpha: float) -> float:
        var = self._std ** 2 * (1.0 / self.window + (1.0 / self._n if self._n else 0.0))
        return self._mean + normal_isf(alpha) * math.sqrt(var)


def accuracy_false_alarms(p, items, baseline):
    alarms = 0
    for seed in range(items // STREAM):
        rng = np.random.default_rng(seed)
        holdout = float((rng.random(HOLDOUT) < p).mean())
        det = {"exact": lambda: AccuracyDrop(baseline=p),
               "holdout": lambda: AccuracyDrop(baseline=holdout, baseline_n=HOLDOUT),
               "holdout taken as exact": lambda: AccuracyDrop(baseline=holdout),
               "first window": lambda: AccuracyDrop()}[baseline]()
        alarms += len(feed(det, rng.random(STREAM) < p, batch=STREAM))
    return alarms


RESIDUALS = {
    "normal": lambda rng, n: rng.normal(size=n),
    "t5": lambda rng, n: rng.standard_t(5, size=n),
    "laplace": lambda rng, n: rng.laplace(size=n),
}


def error_false_alarms(kind, loss, items, baseline, cls):
    alarms = 0
    draw = RESIDUALS[kind]
    for seed in range(items // STREAM):
        rng = np.random.default_rng(seed)
        big = draw(rng, 2_000_000)  # the true mean and spread of the loss, near enough
        big = np.abs(big) if loss == "absolute" else big ** 2
        holdout = draw(rng, HOLDOUT)
        holdout = np.abs(holdout) if loss == "absolute" else holdout ** 2
        det = {"exact": lambda: cls(baseline=float(big.mean()), baseline_std=float(big.std()), loss=loss),
               "holdout": lambda: cls(baseline=float(holdout.mean()), baseline_std=float(holdout.std(ddof=1)),
                                      baseline_n=HOLDOUT, loss=loss),
               "first window": lambda: cls(loss=loss)}[baseline]()
        alarms += len(feed(det, draw(rng, STREAM), batch=STREAM))
    return alarms


def delays(make_stream, make_detector, seeds):
    out = []
    for seed in range(seeds):
        rng = np.random.default_rng(10_000 + seed)
        start = 3000 + int(rng.integers(0, 500))
        data, det = make_stream(rng, start), make_detector(rng)
        hits = [i for i, _ in feed(det, data, batch=250) if i >= start]
        out.append(hits[0] - start if hits else math.inf)
    d = np.array(out)
    found = d[np.isfinite(d)]
    if not len(found):
        return f"missed all {len(d)}"
    return (f"median {np.median(found):.0f}, 90th percentile {np.percentile(found, 90):.0f}, "
            f"missed {len(d) - len(found)} of {len(d)} (within 5000 items)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000_000, help="labelled items per measurement")
    parser.add_argument("--seeds", type=int, default=50, help="streams per delay measurement")
    args = parser.parse_args()
    n = args.items
    print(f"false alarms in {n} labelled items (target {n / 1e6:g}):", flush=True)
    for p in (0.9, 0.97):
        for baseline in ("exact", "holdout", "holdout taken as exact", "first window"):
            t = time.perf_counter()
            print(f"    AccuracyDrop, accuracy {p}, baseline {baseline}: "
                  f"{accuracy_false_alarms(p, n, baseline)} ({time.perf_counter() - t:.0f} s)", flush=True)
    for kind, loss in (("normal", "absolute"), ("normal", "squared"), ("t5", "absolute"),
                       ("laplace", "absolute")):
        for baseline in ("exact", "holdout", "first window"):
            t = time.perf_counter()
            gamma = error_false_alarms(kind, loss, n, baseline, ErrorIncrease)
            normal = error_false_alarms(kind, loss, n, baseline, NormalBound)
            print(f"    ErrorIncrease, {kind} residuals, {loss} error, baseline {baseline}: {gamma} "
                  f"(normal bound: {normal}) ({time.perf_counter() - t:.0f} s)", flush=True)

    def accuracy_stream(after):
        return lambda rng, start: np.r_[rng.random(start) < 0.9, rng.random(5000) < after]

    def gated_accuracy(rng):
        return AccuracyDrop(baseline=float((rng.random(HOLDOUT) < 0.9).mean()), baseline_n=HOLDOUT)

    def error_stream(scale):
        return lambda rng, start: np.r_[rng.normal(size=start), scale * rng.normal(size=5000)]

    def gated_error(rng):
        h = np.abs(rng.normal(size=HOLDOUT))
        return ErrorIncrease(baseline=float(h.mean()), baseline_std=float(h.std(ddof=1)), baseline_n=HOLDOUT)

    print("delays, baseline from a 300-row holdout:", flush=True)
    for after in (0.8, 0.85):
        figure = delays(accuracy_stream(after), gated_accuracy, args.seeds)
        print(f"    AccuracyDrop 0.9 -> {after}: {figure}", flush=True)
    for scale in (1.5, 1.2):
        print(f"    ErrorIncrease, residual sd x{scale}: "
              f"{delays(error_stream(scale), gated_error, args.seeds)}", flush=True)


if __name__ == "__main__":
    main()

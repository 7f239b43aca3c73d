"""NumericDrift: feature values per second, and the cost of calibrating a reference.

    python -m benchmarks.numeric_drift [--rows 200000] [--repeat 3]

Throughput: 10 normal features, fed in batches of 5000 rows after the
reference, printed as feature values per second (best of ``repeat`` runs)
for both statistics (the default), for KS alone, and for the baseline
``np.sort`` of each window, the one step no windowed rank test can skip,
measured in the same run on the same rows.

Calibration: ``set_reference()`` of 1000 rows of 20 features, for features
with no ties (normal), with many ties (Poisson counts), and with some
(rounded amounts, zero-inflated values; each of the 20 then has its own tie
pattern and needs its own null). The baseline is the plain bootstrap of the
KS statistic alone, 1000 resamples per feature sorted and merged one by one,
on the same rows.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from driftline.detectors import NumericDrift
from driftline.detectors.features.ks import RESAMPLES

D = 10
BATCH = 5000


def best_time(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def throughput(rows: int, repeat: int) -> None:
    rng = np.random.default_rng(0)
    ref, X = rng.normal(size=(1000, D)), rng.normal(size=(rows, D))

    def run(statistics):
        det = NumericDrift([f"x{j}" for j in range(D)], statistics=statistics)
        det.set_reference(ref)
        return lambda: [det.update(X[i:i + BATCH]) for i in range(0, rows, BATCH)]

    def sort_windows():
        for i in range(0, rows, 500):
            np.sort(X[i:i + 500], axis=0)

    print(f"throughput, {rows} rows x {D} features, best of {repeat}:")
    for label, fn in [("NumericDrift ks+psi (default)", run(("ks", "psi"))),
                      ("NumericDrift ks only", run(("ks",))),
                      ("baseline: np.sort of each window", sort_windows)]:
        print(f"  {label:34s} {rows * D / best_time(fn, repeat) / 1e6:6.2f} M values/s", flush=True)


def plain_bootstrap_ks(X: np.ndarray, m: int, rng: np.random.Generator) -> list[np.ndarray]:
    """KS nulls the obvious way: resample, sort, merge; one feature at a time."""
    n = len(X)
    label = np.r_[np.full(n, 1.0 / n), np.full(m, -1.0 / m)]
    nulls = []
    for x in X.T:
        draws = x[rng.integers(0, n, size=(RESAMPLES, n + m))]
        order = np.argsort(draws, axis=1, kind="stable")
        gap = np.abs(np.cumsum(label[order], axis=1))
        ends = np.ones_like(gap, dtype=bool)
        ends[:, :-1] = np.diff(np.take_along_axis(draws, order, axis=1), axis=1) != 0
        nulls.append(np.where(ends, gap, 0.0).max(axis=1))
    return nulls


def calibration(repeat: int) -> None:
    rng = np.random.default_rng(1)
    n, d = 1000, 20
    kinds = {
        "normal (no ties)": rng.normal(size=(n, d)),
        "Poisson counts": rng.poisson(np.linspace(0.5, 20, d), size=(n, d)).astype(float),
        "rounded amounts": np.round(rng.lognormal(np.linspace(1, 3, d), 1.0, size=(n, d))),
        "zero-inflated": np.where(rng.random((n, d)) < np.linspace(0.1, 0.6, d), 0.0,
                                  rng.normal(size=(n, d))),
    }
    print(f"calibration of a reference of {n} rows x {d} features, best of {repeat}:")
    for label, X in kinds.items():
        det = NumericDrift([f"x{j}" for j in range(d)])
        took = best_time(lambda: det.set_reference(X), repeat)
        patterns = len(set(det.calibration["ties"]))
        base = best_time(lambda: plain_bootstrap_ks(X, 500, np.random.default_rng(0)), 1)
        print(f"  {label:18s} {took * 1e3:6.0f} ms ({patterns:2d} tie patterns); "
              f"baseline plain KS bootstrap {base * 1e3:6.0f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows fed per throughput run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    args = parser.parse_args()
    throughput(args.rows, args.repeat)
    calibration(args.repeat)


if __name__ == "__main__":
    main()

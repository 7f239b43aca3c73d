"""Measure MeanShift: false alarms on long stationary streams, delays after a shift, speed.

Next to river's PageHinkley and ADWIN run per feature at their defaults, and
the windowed KS test (NumericDrift), on the same streams. Too slow for the test
suite (a few minutes); run it when the detector or a default changes:

    python -m tests.detectors.measure_meanshift [--streams 10] [--rows 1000000] [--trials 100]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from driftline.detectors import MeanShift, NumericDrift
from tests.detectors.cases import feed

D = 10
FEATURES = [f"x{j}" for j in range(D)]
KINDS = ["normal", "normal", "normal", "lognormal", "exponential", "t3", "t3",
         "poisson(2)", "binomial(10, 0.3)", "geometric(0.5)"]


def mixed(rng: np.random.Generator, n: int) -> np.ndarray:
    """Ten stationary features: normal, skewed, heavy-tailed and integer-valued."""
    cols = [rng.normal(size=n), rng.normal(size=n), rng.normal(size=n),
            rng.lognormal(size=n), rng.exponential(size=n),
            rng.standard_t(3, size=n), rng.standard_t(3, size=n),
            rng.poisson(2.0, size=n), rng.binomial(10, 0.3, size=n), rng.geometric(0.5, size=n)]
    return np.column_stack(cols).astype(float)


def false_alarms(streams: int, rows: int, given: bool) -> str:
    counts, per_feature = [], np.zeros(D, dtype=int)
    for seed in range(streams):
        rng = np.random.default_rng(seed)
        det = MeanShift(FEATURES, seed=seed)
        if given:
            det.set_reference(mixed(rng, 1000))
        n = 0
        for _ in range(rows // 100_000):
            for _, d in feed(det, mixed(rng, 100_000)):
                per_feature[FEATURES.index(d.feature)] += 1
                n += 1
        counts.append(n)
    by_kind = ", ".join(f"{k} {c}" for k, c in zip(KINDS, per_feature) if c)
    return f"{sum(counts)} in {streams * rows:.0e} rows (target <= {streams * rows * 1e-6:g}; by feature: {by_kind or 'none'})"


def river_false_alarms(rows: int) -> str:
    from river import drift

    out = []
    for name, make in [("PageHinkley", drift.PageHinkley), ("ADWIN", drift.ADWIN)]:
        X = mixed(np.random.default_rng(0), rows)
        alarms = 0
        for j in range(D):
            det = make()
            for v in X[:, j]:
                det.update(float(v))
                alarms += det.drift_detected
        out.append(f"river {name} {alarms}")
    return ", ".join(out) + f" in {rows} rows of the same 10 features"


def shifted(rng, shift: float, ramp: int):
    n = 9000
    X = rng.normal(size=(n, D))
    start = 3000 + int(rng.integers(0, 500))
    X[start:, 0] += shift * np.clip((np.arange(n - start) + 1) / max(ramp, 1), 0, 1)
    return X, start


def delays(trials: int, shift: float, ramp: int = 0) -> dict[str, list[float]]:
    """Rows from the change to the first detection in the shifted feature (inf: not within 5500)."""
    from river import drift

    out: dict[str, list[float]] = {"MeanShift": [], "MeanShift(shift=0.5)": [],
                                   "NumericDrift (KS)": [], "river PageHinkley": [], "river ADWIN": []}
    for seed in range(trials):
        X, start = shifted(np.random.default_rng(1000 + seed), shift, ramp)
        for name, make in [("MeanShift", lambda: MeanShift(FEATURES)),
                           ("MeanShift(shift=0.5)", lambda: MeanShift(FEATURES, shift=0.5)),
                           ("NumericDrift (KS)", lambda: NumericDrift(FEATURES))]:
            hits = [i for i, d in feed(make(), X) if i >= start and d.feature == "x0"]
            out[name].append(hits[0] - start if hits else math.inf)
        if seed < max(trials // 4, 10):  # river is slower: fewer trials
            for name, make in [("river PageHinkley", drift.PageHinkley), ("river ADWIN", drift.ADWIN)]:
                det, hit = make(), math.inf
                for i, v in enumerate(X[:, 0]):
                    det.update(float(v))
                    if det.drift_detected and i >= start:
                        hit = i - start
                        break
                out[name].append(hit)
    return out


def summary(d: list[float]) -> str:
    a = np.array(d, dtype=float)
    found = a[np.isfinite(a)]
    if not len(found):
        return f"found 0 of {len(a)}"
    # Not found counts as later than any delay; "nearest" keeps inf out of the arithmetic.
    med, p90 = (np.percentile(a, q, method="nearest") for q in (50, 90))
    return (f"found {len(found)} of {len(a)}, median {med:.0f}, 90th percentile "
            f"{p90:.0f}".replace("inf", "not found"))


def speed(batch: int) -> str:
    rng = np.random.default_rng(0)
    X = mixed(rng, 200_000)
    det = MeanShift(FEATURES)
    t, cpu = time.perf_counter(), time.process_time()
    for s in range(0, len(X), batch):
        det.update(X[s:s + batch])
    # CPU time as well: on a shared machine the wall clock also counts waiting.
    dt, dc = time.perf_counter() - t, time.process_time() - cpu
    return (f"{X.size / dc:,.0f} feature values/s of CPU time ({len(X) / dc:,.0f} rows/s); "
            f"{X.size / dt:,.0f} by the wall clock")


def calibration_time(d: int = 20) -> str:
    X = np.random.default_rng(0).normal(size=(1000, d))
    det = MeanShift([f"x{j}" for j in range(d)])
    t, cpu = time.perf_counter(), time.process_time()
    det.set_reference(X)
    return f"{time.process_time() - cpu:.2f} s of CPU time, {time.perf_counter() - t:.2f} s by the wall clock"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=100)
    args = parser.parse_args()
    s, n, t = args.streams, args.rows, args.trials
    runs = [
        ("speed, batches of 500 rows of 10 features", lambda: speed(500)),
        ("speed, batches of 20 rows", lambda: speed(20)),
        ("calibration of a reference of 1000 rows x 20 features", calibration_time),
        (f"false alarms, defaults, self-started, {s} streams x {n} rows x 10 mixed features",
         lambda: false_alarms(s, n, given=False)),
        (f"false alarms, defaults, reference of 1000 rows given, {s} x {n} rows",
         lambda: false_alarms(s, n, given=True)),
        ("river at defaults on stationary streams", lambda: river_false_alarms(100_000)),
    ]
    for shift, ramp in [(0.25, 0), (0.5, 0), (1.0, 0), (1.0, 1000)]:
        what = f"a {shift} sd shift" if not ramp else f"a ramp to {shift} sd over {ramp} rows"
        runs.append((f"rows to detect {what} in 1 of 10 normal features",
                     lambda shift=shift, ramp=ramp: "; ".join(
                         f"{k}: {summary(v)}" for k, v in delays(t, shift, ramp).items())))
    for label, run in runs:
        start = time.perf_counter()
        result = run()
        print(f"{label}: {result} ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

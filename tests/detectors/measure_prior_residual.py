"""Measure PriorShift and ResidualShift: false alarms on long stationary streams, delays after a change.

Too slow for the test suite (about 15 minutes with the defaults); run it when
either detector or its share of the suite's budget changes:

    python -m tests.detectors.measure_prior_residual [--events 10000000] [--seeds 3] [--only prior]

Each detector runs at the rate the monitor's suite gives it by default
(``SHARES`` times 10^-6 false alarms per event). Delays are printed next to
river's ADWIN at its defaults, on the same streams in the same run: fed the
0/1 indicator of a class, or the absolute residuals.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from river import drift

from driftline.detectors import PriorShift, ResidualShift
from driftline.detectors.suite import SHARES

BATCH = 5000
TARGET = 1e-6  # the monitor's default budget per model
PRIOR_STREAMS = {  # name -> class probabilities
    "binary 0.5": [0.5, 0.5],
    "binary 0.2": [0.2, 0.8],
    "three classes": [0.5, 0.3, 0.2],
}
RESIDUAL_STREAMS = {
    "normal": lambda rng, n: rng.normal(size=n),
    "laplace": lambda rng, n: rng.laplace(size=n),
    "t5": lambda rng, n: rng.standard_t(5, size=n),
}


def poisson_upper(k: int) -> float:
    """Rough 95% upper bound of a Poisson mean from ``k`` counts."""
    return k + 2.0 * np.sqrt(k) + 2.0


def false_alarms(make, draw, events: int, seeds: int) -> tuple[int, int, float]:
    found, seen, t0 = 0, 0, time.perf_counter()
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        det = make()
        for _ in range(events // BATCH):
            det.update(draw(rng, BATCH))
            found += len(det.detections)
            seen += BATCH
    return found, seen, time.perf_counter() - t0


def report_false_alarms(name: str, rate: float, found: int, seen: int, seconds: float) -> None:
    print(f"  {name:<14} {found:>4} false alarms in {seen:.1e} events = {found / seen * 1e6:.3f} per 10^6 "
          f"(95% bound {poisson_upper(found) / seen * 1e6:.3f}); target {rate * 1e6:.3f}  [{seconds:.0f}s]")


def first_after(det, x: np.ndarray, at: int) -> float:
    for a in range(0, len(x), 500):
        det.update(x[a:a + 500])
        hits = [a + d.batch_index for d in det.detections if a + d.batch_index >= at]
        if hits:
            return float(hits[0] - at)
    return np.inf


def river_first_after(x: np.ndarray, at: int) -> float:
    adwin = drift.ADWIN()
    for t, v in enumerate(x.tolist()):
        adwin.update(v)
        if adwin.drift_detected and t >= at:
            return float(t - at)
    return np.inf


def summary(delays: list[float]) -> str:
    d = np.array(delays)
    found = np.isfinite(d)
    med = np.quantile(d, 0.5, method="inverted_cdf")
    p90 = np.quantile(d, 0.9, method="inverted_cdf")
    return f"found {found.sum()}/{len(d)}, median {med:.0f}, p90 {p90:.0f}"


def prior(events: int, seeds: int, trials: int, rate: float | None = None) -> None:
    rate = rate or SHARES["prior"] * TARGET
    print(f"PriorShift at {rate:g} false alarms per event "
          f"(its share of {TARGET:g}: {SHARES['prior'] * TARGET:g}):")
    for name, p in PRIOR_STREAMS.items():
        labels = np.array([f"c{k}" for k in range(len(p))], dtype=object)
        report_false_alarms(name, rate, *false_alarms(
            lambda: PriorShift(false_alarm_rate=rate),
            lambda rng, n, p=p: labels[rng.choice(len(p), p=p, size=n)], events, seeds))
    if not trials:
        return
    print(f"delays, share of one class of two moving from 0.5 at row 3000 ({trials} streams; river ADWIN "
          "at its defaults on the class's 0/1 indicator):")
    labels = np.array(["0", "1"], dtype=object)
    for after in (0.6, 0.64, 0.74, 0.85):
        ours, theirs = [], []
        for seed in range(trials):
            rng = np.random.default_rng(10_000 + seed)
            x = np.r_[rng.random(3000) < 0.5, rng.random(3000) < after].astype(int)
            ours.append(first_after(PriorShift(false_alarm_rate=rate), labels[x], 3000))
            theirs.append(river_first_after(x.astype(float), 3000))
        print(f"  0.5 -> {after}: PriorShift {summary(ours)}; river ADWIN {summary(theirs)}")


def residual(events: int, seeds: int, trials: int, rate: float | None = None) -> None:
    rate = rate or SHARES["adwin"] * TARGET
    print(f"ResidualShift at {rate:g} false alarms per labelled event (the suite's share for a regressor: "
          f"{SHARES['adwin'] * TARGET:g}):")
    for name, draw in RESIDUAL_STREAMS.items():
        report_false_alarms(name, rate, *false_alarms(
            lambda: ResidualShift(false_alarm_rate=rate), draw, events, seeds))
    if not trials:
        return
    print(f"delays, normal residuals changing at row 3000 ({trials} streams; river ADWIN at its defaults "
          "on |residual|):")
    changes = {"bias +0.5 sd": (0.5, 1.0), "bias +1 sd": (1.0, 1.0), "sd x 1.5": (0.0, 1.5),
               "sd x 2": (0.0, 2.0)}
    for name, (shift, scale) in changes.items():
        ours, theirs = [], []
        for seed in range(trials):
            rng = np.random.default_rng(20_000 + seed)
            r = np.r_[rng.normal(size=3000), shift + scale * rng.normal(size=3000)]
            ours.append(first_after(ResidualShift(false_alarm_rate=rate), r, 3000))
            theirs.append(river_first_after(np.abs(r), 3000))
        print(f"  {name}: ResidualShift {summary(ours)}; river ADWIN {summary(theirs)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=10_000_000, help="events per stationary stream")
    ap.add_argument("--seeds", type=int, default=3, help="stationary streams per kind")
    ap.add_argument("--trials", type=int, default=100, help="streams per change")
    ap.add_argument("--only", choices=("prior", "residual"))
    ap.add_argument("--rate", type=float,
                    help="false alarms per event to run at (default: the suite's share)")
    ap.add_argument("--no-delays", action="store_true", help="false alarms only")
    args = ap.parse_args()
    if args.only in (None, "prior"):
        prior(args.events, args.seeds, 0 if args.no_delays else args.trials, args.rate)
    if args.only in (None, "residual"):
        residual(args.events, args.seeds, 0 if args.no_delays else args.trials, args.rate)


if __name__ == "__main__":
    main()

"""MeanShift on river's seven annotated change-point series, next to river's detectors.

Every detector is fed each series one value at a time (the first column of the
multivariate ones), knowing nothing else: MeanShift at its defaults starts by
itself, as do river's ADWIN, PageHinkley and KSWIN (seeded). A prediction is
the index of the value at which a detector fires; ``benchmarks.tcpd`` scores
it with TCPD's F1 at margin 5. The answer "no change" is the floor.

    python -m benchmarks.tcpd_meanshift
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.tcpd import f1, load_all
from driftline.detectors import MeanShift


def meanshift_points(values: np.ndarray) -> list[int]:
    det = MeanShift(["x"])
    points = []
    for i, v in enumerate(values):
        det.update(np.array([[v]]))
        if det.drift_detected:
            points.append(i)
    return points


def river_points(make, values: np.ndarray) -> list[int]:
    det = make()
    points = []
    for i, v in enumerate(values):
        det.update(float(v))
        if det.drift_detected:
            points.append(i)
    return points


def main() -> None:
    from river import drift

    series = load_all()
    methods = {
        "no change": lambda s: [],
        "MeanShift": meanshift_points,
        "river ADWIN": lambda s: river_points(drift.ADWIN, s),
        "river PageHinkley": lambda s: river_points(drift.PageHinkley, s),
        "river KSWIN": lambda s: river_points(lambda: drift.KSWIN(seed=42), s),
    }
    names = [s.name for s in series]
    print(f"{'TCPD F1, margin 5':<20}" + "".join(f"{n[:11]:>12}" for n in names) + f"{'mean':>8}  detections")
    for label, method in methods.items():
        t = time.perf_counter()
        points = [method(s.values) for s in series]
        scores = [f1(s.annotations, p) for s, p in zip(series, points)]
        print(f"{label:<20}" + "".join(f"{x:>12.3f}" for x in scores) + f"{np.mean(scores):>8.3f}  "
              f"{sum(map(len, points))} ({time.perf_counter() - t:.1f} s)", flush=True)


if __name__ == "__main__":
    main()

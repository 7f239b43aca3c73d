"""river's binary drift detectors with calibrated defaults, next to river's defaults.

    python -m benchmarks.river_binary [--events 2000000] [--seeds 50] [--only ddm,eddm]

For each detector of :mod:`driftline.detectors.predictions.river_binary` (and ADWIN,
which is :class:`~driftline.detectors.ErrorRateDrift`), with the defaults
and, as the baseline measured in the same run, with river's own defaults:

- false alarms per event on stationary Bernoulli error streams at error
  rates 0.05, 0.1, 0.2 and 0.3 (``events`` per rate; the worst rate counts,
  target 1e-6; river's defaults get a tenth of the events, they fire often);
- the same in the first 5000 events after a (re)start, where most of these
  detectors are at their least sure (``events / 5000`` fresh detectors per
  rate): a detector restarts after every detection, true or false;
- events from a change at event 5000 to its first detection, error rate
  0.2 -> 0.5 and 0.2 -> 0.3, over ``seeds`` streams, and the false alarms
  in the 5000 stable events before it.

Measured with the defaults (2 x 10^6 events per rate; 50 seeds), worst
false alarms per event on one stream / in fresh detectors, then the median
delay for 0.2 -> 0.5 and 0.2 -> 0.3 (misses out of 50); river's defaults
in brackets:

    ddm     0 / 0           378, 1193 (8)     (5e-6 / 1.3e-4; 391, 799 (17))
    eddm    0 / 5e-7        2762 (48), - (50) (6.8e-4 / 2.2e-3; 137, 252)
    hddm_a  0 / 0           96, 735 (0)       (5e-6 / 2.5e-5; 68, 389)
    hddm_w  0 / 0           134, 2429 (45)    (4.3e-4 / 3.3e-4; 28, 253)
    fhddm   1e-6 / 0        218, 1012 (3)     (1.4e-4 / 7.5e-5; 53, 210)
    adwin   0 / 0           87, 439 (0)       (ErrorRateDrift; no river run)

EDDM stays within the budget only where it finds almost nothing.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from driftline.detectors import ErrorRateDrift
from driftline.detectors.predictions.river_binary import DDMDrift, EDDMDrift, FHDDMDrift, HDDMADrift, HDDMWDrift
from tests.detectors.cases import feed

RATES = (0.05, 0.1, 0.2, 0.3)
CHANGE = 5000
CHUNK = 100_000

# name -> (calibrated, river's defaults)
CONFIGS = {
    "ddm": (DDMDrift, lambda: DDMDrift(drift_threshold=3.0, warm_start=30)),
    "eddm": (EDDMDrift, lambda: EDDMDrift(beta=0.9, warm_start=30)),
    "hddm_a": (HDDMADrift, lambda: HDDMADrift(drift_confidence=0.001)),
    "hddm_w": (HDDMWDrift, lambda: HDDMWDrift(drift_confidence=0.001, lambda_val=0.05)),
    "fhddm": (FHDDMDrift, lambda: FHDDMDrift(confidence_level=1e-6, sliding_window_size=100)),
    "adwin": (ErrorRateDrift, None),
}


def false_alarm_rate(make, events, fresh=False):
    """The worst per-event rate over RATES, and the rate at each.

    One long stream per rate, or with ``fresh`` one new detector per CHANGE events.
    """
    per_rate = []
    for p in RATES:
        rng = np.random.default_rng(int(p * 1000) + fresh)
        det, alarms = make(), 0
        step = CHANGE if fresh else CHUNK
        for start in range(0, events, step):
            if fresh:
                det = make()
            alarms += len(feed(det, rng.random(min(step, events - start)) < p, batch=step))
        per_rate.append(alarms / events)
    return max(per_rate), per_rate


def delays(make, after, seeds):
    out, early = [], 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        data = np.r_[rng.random(CHANGE) < 0.2, rng.random(5000) < after]
        hits = [i for i, _ in feed(make(), data, batch=250)]
        early += sum(1 for i in hits if i < CHANGE)
        late = [i - CHANGE for i in hits if i >= CHANGE]
        out.append(late[0] if late else math.inf)
    d = np.array(out)
    found = d[np.isfinite(d)]
    text = (f"median {np.median(found):.0f}, 90th percentile {np.percentile(found, 90):.0f}"
            if len(found) else "none found")
    return (f"{text}, missed {len(d) - len(found)} of {len(d)}; "
            f"{early / seeds:.2f} false alarms per 5000 events")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="events per stationary stream")
    parser.add_argument("--seeds", type=int, default=50, help="streams per delay measurement")
    parser.add_argument("--only", default=",".join(CONFIGS), help="comma-separated detector names")
    args = parser.parse_args()
    for name in args.only.split(","):
        calibrated, river_default = CONFIGS[name]
        for label, make, events in [("defaults here", calibrated, args.events),
                                    ("river's defaults", river_default, args.events // 10)]:
            if make is None:
                continue
            t = time.perf_counter()
            print(f"{name} ({label}, {make()!r}):", flush=True)
            for fresh, what in ((False, "one stream"), (True, f"fresh detectors, {CHANGE} events each")):
                worst, per_rate = false_alarm_rate(make, events, fresh)
                rates = ", ".join(f"{p}: {r:.1e}" for p, r in zip(RATES, per_rate))
                print(f"    false alarms per event ({what}): worst {worst:.1e} "
                      f"({rates}; {events} events each)", flush=True)
            for after in (0.5, 0.3):
                print(f"    0.2 -> {after}: {delays(make, after, args.seeds)}", flush=True)
            print(f"    ({time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

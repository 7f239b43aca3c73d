"""Drift detection: driftline's detectors next to river's, on the same streams, in one run.

Every contender runs at its default parameters, in this process, on the same
seeded streams (see ``benchmarks/drift_bench/``):

- stationary streams of model rows (ten numeric features of mixed shapes,
  four categorical ones with a long tail, a prediction, Bernoulli errors or
  a regressor's residuals): false alarms per 10^6 events, counted over all
  features;
- covariate shift of one numeric feature among ten (abrupt and gradual;
  0.25, 0.5, 1 sd and a scale change), categorical frequency shift and new
  categories, a correlation flip no single feature shows, concept drift with
  unchanged inputs (SEA, Agrawal, STAGGER, Hyperplane through a frozen
  Hoeffding tree; Friedman through a frozen linear regression), and label
  shift: drifts found, delay (median, 90th
  percentile; a miss counts as infinite), false alarms before the drift;
- TCPD: river's seven annotated change-point series, F1 at margin 5, next to
  the no-change floor;
- throughput of numeric data drift in feature values per second, next to a
  plain numpy pass and river's per-feature detectors;
- alerts per drift (``episodes``): the monitor itself, suite and alert
  policy, on drifts that last and one that ends, counting alerts and
  episodes per affected (kind, feature) next to the suite's raw detections.

"driftline (monitor suite)" is the set of detectors the monitor runs on a
model with the false-alarm budget split between them
(``benchmarks/drift_bench/suite.py``); its false alarms are the sum over its
members. A verdict block at the end checks the project's goals against the
figures of this run. Numerical libraries are held to one thread, so speeds
are per core. The exit code is 0 unless something crashed: this measures,
it does not test.

Usage: python benchmarks/detection.py [--quick] [--json] [--seed 0] [--only FAMILY]
  --quick   a smaller run (under 2 minutes on 2 cores), as in CI
  --json    one JSON object per line (kinds: result, throughput, verdict, run)
  --only    one of: stationary, covariate, categorical, joint, concept, regression, label, tcpd,
            throughput, episodes
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

_ROOT = str(pathlib.Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from benchmarks.drift_bench import contenders, episodes, harness, report  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smaller run, for CI")
    ap.add_argument("--json", action="store_true", help="print JSON rows, one per line")
    ap.add_argument("--seed", type=int, default=0, help="base seed of every stream (default 0)")
    ap.add_argument("--only", choices=harness.FAMILIES, metavar="FAMILY",
                    help=f"run one part: {', '.join(harness.FAMILIES)}")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = ap.parse_args(argv)
    if args.seed < 0:
        ap.error(f"--seed must be an integer >= 0, got {args.seed}")
    config = harness.QUICK if args.quick else harness.FULL
    families = [args.only] if args.only else list(harness.FAMILIES)
    start = time.perf_counter()
    log = None if args.quiet else harness.stderr_log(start)
    results = harness.run(config, args.seed, families, log=log)
    rows = report.rows(results)
    verdicts = report.verdict(rows)
    episode_rows = []
    if "episodes" in families:
        episode_rows = episodes.rows(episodes.run_all(config.episode_seeds, args.seed, log=log))
        verdicts.append(episodes.verdict(episode_rows))
    names = list(dict.fromkeys(r["contender"] for r in rows if r["kind"] == "result"))
    run = report.row("run", seed=args.seed, quick=args.quick, families=families, contenders=names,
                      not_yet_in_driftline=contenders.missing_driftline(),
                      wall_s=round(time.perf_counter() - start, 1))
    if args.json:
        for row in [*rows, *episode_rows, *verdicts, run]:
            print(json.dumps(row))
    else:
        print(report.table(rows))
        if episode_rows:
            print(episodes.table(episode_rows))
        print(report.verdict_text(verdicts))
        missing = run["not_yet_in_driftline"]
        print(f"\nseed {args.seed}, {'quick' if args.quick else 'full'} run, {run['wall_s']}s wall"
              + (f"; not in driftline.detectors yet: {', '.join(missing)}" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Feed every contender the same streams and score what it found.

- Stationary streams: every detection is a false alarm; a contender's run on
  one view stops once it has raised ``alarm_cap`` of them (its rate is then
  known to about ``1 / sqrt(alarm_cap)``; quiet detectors see every event).
- Drift streams: detections before the drift point are false alarms; the
  delay is the number of rows from the drift point to the first detection at
  or after it; no detection within the stream's horizon is a miss (infinite
  delay). Feeding stops at the first detection after the drift.
- TCPD: each series is fed one value at a time and scored with TCPD's F1.

Timing covers the contenders' ``feed`` calls only, not building the streams.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Iterable

import numpy as np
from river import drift

from benchmarks import tcpd
from benchmarks.drift_bench import concept, streams
from benchmarks.drift_bench.contenders import SUITE, Contender, SuiteRunner, available, contenders, make
from benchmarks.drift_bench.streams import Blocks, Stream

FAMILIES = ("stationary", "covariate", "categorical", "joint", "concept", "regression", "label", "tcpd",
            "throughput", "episodes")


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = 12  # streams per drift scenario
    concept_seeds: int = 8  # concept and regression streams train a model each, so fewer
    # 5 x 10^6 stationary rows: at the target of one false alarm per 10^6, a single 10^6 tells
    # 0 from 3 but not a rate of 0.5 from one of 1.
    stationary_seeds: int = 25
    stationary_rows: int = 200_000
    alarm_cap: int = 100
    # Slow contenders (river's KSWIN: ~3,500 values/s) see fewer streams:
    slow_seeds: int = 2  # streams per drift scenario
    slow_events: int = 20_000  # stationary events per view, unless the alarm cap comes first
    slow_skip: frozenset[str] = frozenset()  # families they sit out
    throughput_rows: int = 200_000
    chunk: int = 500  # rows per update() call, the monitor's batch
    scenarios_per_family: int | None = None  # the first few of each family only (tests)
    episode_seeds: int = 3  # streams per scenario of alerts per drift
    tcpd_series: tuple[str, ...] = tcpd.SERIES


FULL = Config()
QUICK = Config(seeds=2, concept_seeds=2, stationary_seeds=2, stationary_rows=25_000, alarm_cap=20,
               slow_seeds=1, slow_events=5_000, slow_skip=frozenset({"covariate", "joint"}),
               throughput_rows=50_000, episode_seeds=1)


@dataclasses.dataclass
class Tally:
    """What one contender did on one scenario, over all its streams."""

    contender: Contender
    family: str
    scenario: str
    target: str
    effect: str | None = None
    shape: str | None = None
    horizon: int | None = None
    streams: int = 0
    delays: list[float] = dataclasses.field(default_factory=list)  # inf: missed
    false_alarms: int = 0
    events: int = 0
    pre_events: int = 0  # rows fed before the drift point
    seconds: float = 0.0
    capped: bool = False
    skipped: str = ""
    f1: float | None = None
    member_hits: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def applies(self) -> bool:
        return self.contender.applies(self.target)


def _say(log: Callable[[str], None] | None, text: str) -> None:
    if log is not None:
        log(text)


def _feed(runner, data: Blocks, start: int, stop: int, tally: Tally) -> list[int]:
    part = data.rows(start, stop)
    t0 = time.perf_counter()
    found = runner.feed(part)
    tally.seconds += time.perf_counter() - t0
    tally.events += stop - start
    return [start + i for i in found]


def run_drift_stream(runner, stream: Stream, tally: Tally, chunk: int) -> float:
    """Feed ``stream`` until the first detection at or after its drift point; return the delay."""
    at, end = stream.drift_at, stream.drift_at + stream.horizon
    first = None
    for a in range(0, end, chunk):
        b = min(a + chunk, end)
        tally.pre_events += max(0, min(b, at) - a)
        for row in _feed(runner, stream.data, a, b, tally):
            if row < at:
                tally.false_alarms += 1
            elif first is None or row < first:
                first = row
        if first is not None:
            break
    delay = math.inf if first is None else float(first - at)
    tally.delays.append(delay)
    tally.streams += 1
    return delay


def run_stationary_stream(runner, data: Blocks, tally: Tally, chunk: int, cap: int,
                          max_events: int | None = None) -> None:
    stop = len(data) if max_events is None else min(len(data), max(max_events - tally.events, 0))
    for a in range(0, stop, chunk):
        tally.false_alarms += len(_feed(runner, data, a, min(a + chunk, stop), tally))
        if tally.false_alarms >= cap:
            tally.capped = True
            break
    tally.streams += 1
    if isinstance(runner, SuiteRunner):
        for name, k in runner.hits.items():
            tally.member_hits[name] = tally.member_hits.get(name, 0) + k


# ---------------------------------------------------------------- families


def stationary(config: Config, base: int, entrants: list[Contender], log=None) -> list[Tally]:
    tallies = {}
    for view in streams.STATIONARY_VIEWS:
        for c in entrants:
            # The suite watches whole models; everyone else one kind of block.
            if (view in streams.MODEL_VIEWS) == (c.name == SUITE) and c.applies(view):
                tallies[c.name, view] = Tally(c, "stationary", view, view)
    for s in range(config.stationary_seeds):
        rate = streams.STATIONARY_ERROR_RATES[s % len(streams.STATIONARY_ERROR_RATES)]
        residuals = streams.STATIONARY_RESIDUALS[s % len(streams.STATIONARY_RESIDUALS)]
        seed = streams.seed_for(base, "stationary", s)
        data = streams.stationary(seed, config.stationary_rows, rate, residuals)
        _say(log, f"stationary stream {s + 1}/{config.stationary_seeds} ({config.stationary_rows} rows, "
                  f"error rate {rate}, {residuals} residuals)")
        for (name, view), t in tallies.items():
            slow = t.contender.slow
            if t.capped or (slow and t.events >= config.slow_events):
                continue
            view_data = streams.stationary_view(data, view)
            runner = t.contender.build(view_data, view, seed)
            run_stationary_stream(runner, view_data, t, config.chunk, config.alarm_cap,
                                  config.slow_events if slow else None)
    return list(tallies.values())


def drift_family(family: str, scenarios: list[streams.Scenario], n_seeds: int, config: Config, base: int,
                 entrants: list[Contender], log=None) -> list[Tally]:
    tallies = {(c.name, sc.name): Tally(c, family, sc.name, sc.target, sc.effect, sc.shape)
               for sc in scenarios for c in entrants}
    for i in range(n_seeds):
        seed = streams.seed_for(base, family, i)
        for sc in scenarios:
            stream = sc.make(seed)
            _say(log, f"{family}: {sc.name}, stream {i + 1}/{n_seeds} (drift at {stream.drift_at}"
                      f"{', ' + stream.note if stream.note else ''})")
            for c in entrants:
                t = tallies[c.name, sc.name]
                t.horizon = stream.horizon
                if not t.applies:
                    continue
                if c.slow and (family in config.slow_skip or config.slow_seeds == 0):
                    t.skipped = "skipped: too slow for this run"
                    continue
                if c.slow and i >= config.slow_seeds:
                    continue
                runner = c.build(stream.data, stream.target, seed)
                run_drift_stream(runner, stream, t, config.chunk)
    return list(tallies.values())


def tcpd_family(config: Config, base: int, entrants: list[Contender],
                log=None) -> tuple[list[Tally], list[tcpd.Series]]:
    series = [tcpd.load(name) for name in config.tcpd_series]
    tallies = []
    for c in entrants:
        if not c.univariate:
            continue
        for s in series:
            _say(log, f"tcpd: {c.name} on {s.name}")
            t = Tally(c, "tcpd", s.name, "numeric", streams=1)
            data = Blocks(numeric=s.values[:, None], numeric_names=("value",))
            runner = c.build(data, "numeric", base)
            found = []
            for i in range(len(data)):  # one value at a time, as the protocol says
                found += _feed(runner, data, i, i + 1, t)
            t.f1 = tcpd.f1(s.annotations, found)
            t.false_alarms = len(found)  # here: all detections
            tallies.append(t)
    return tallies, series


# ---------------------------------------------------------------- throughput


@dataclasses.dataclass(frozen=True)
class Throughput:
    contender: str
    source: str
    values: int
    seconds: float
    note: str = ""
    # The slowest update() call and the values it took: for a detector, the one
    # where the reference is set and its threshold calibrated, once per model version.
    setup_s: float | None = None
    setup_values: int = 0

    @property
    def values_per_s(self) -> float | None:
        return self.values / self.seconds if self.seconds > 0 else None  # too fast for the clock

    @property
    def steady_values_per_s(self) -> float | None:
        if self.setup_s is None:
            return None
        rest = self.seconds - self.setup_s
        return (self.values - self.setup_values) / rest if rest > 0 else None


def _time(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def throughput(config: Config, base: int, log=None) -> list[Throughput]:
    """Feature values per second on numeric data (ten features), next to baselines."""
    rng = np.random.default_rng(streams.seed_for(base, "throughput"))
    n = config.throughput_rows
    X = streams.numeric_features(rng, n)
    names = list(streams.NUMERIC_NAMES)
    d, chunk = X.shape[1], config.chunk
    out = []

    def run_detector(name: str, det) -> Throughput:
        times = np.array([_time(lambda a=a: det.update(X[a:a + chunk])) for a in range(0, n, chunk)])
        slowest = int(np.argmax(times))
        return Throughput(name, "driftline", n * d, float(times.sum()), f"batches of {chunk} rows",
                          float(times[slowest]), len(X[slowest * chunk:(slowest + 1) * chunk]) * d)

    detectors = available()
    for name in ("NumericDrift", "MeanShift", "MultivariateDrift"):
        if name in detectors:
            _say(log, f"throughput: {name}")
            out.append(run_detector(name, make(detectors[name], names)))

    def numpy_pass() -> None:
        for a in range(0, n, chunk):
            w = X[a:a + chunk]
            w.mean(axis=0)
            w.std(axis=0)
    out.append(Throughput("numpy: mean and sd of each window", "baseline", n * d, _time(numpy_pass)))

    def river_per_feature(make, rows: int) -> float:
        dets = [make(j) for j in range(d)]
        cols = [X[:rows, j].tolist() for j in range(d)]

        def go() -> None:
            for det, col in zip(dets, cols):
                for x in col:
                    det.update(x)
                    _ = det.drift_detected
        return _time(go)

    rows = min(n, 50_000)
    _say(log, "throughput: river ADWIN, KSWIN")
    out.append(Throughput("river ADWIN, one per feature", "river", rows * d,
                          river_per_feature(lambda j: drift.ADWIN(), rows), f"first {rows} rows"))
    rows = min(n, 1000)
    out.append(Throughput("river KSWIN, one per feature", "river", rows * d,
                          river_per_feature(lambda j: drift.KSWIN(seed=base + j), rows), f"first {rows} rows"))
    return out


# ---------------------------------------------------------------- everything


@dataclasses.dataclass
class Results:
    tallies: list[Tally]
    throughput: list[Throughput]
    tcpd_series: list[tcpd.Series]
    wall_s: float = 0.0


def run(config: Config, base: int, families: Iterable[str] = FAMILIES, log=None,
        entrants: list[Contender] | None = None) -> Results:
    families = list(families)
    entrants = contenders() if entrants is None else entrants
    t0 = time.perf_counter()
    tallies: list[Tally] = []
    drift_scenarios = streams.scenarios()
    drift_scenarios["concept"] = concept.scenarios()
    drift_scenarios["regression"] = concept.regression_scenarios()
    series: list[tcpd.Series] = []
    out_throughput: list[Throughput] = []
    for family in families:
        if family == "stationary":
            tallies += stationary(config, base, entrants, log)
        elif family == "tcpd":
            found, series = tcpd_family(config, base, entrants, log)
            tallies += found
        elif family == "throughput":
            out_throughput = throughput(config, base, log)
        elif family == "episodes":
            continue  # the monitor's alerts per drift: benchmarks/drift_bench/episodes.py
        elif family in drift_scenarios:
            n = config.concept_seeds if family in ("concept", "regression") else config.seeds
            chosen = drift_scenarios[family][:config.scenarios_per_family]
            tallies += drift_family(family, chosen, n, config, base, entrants, log)
        else:
            raise ValueError(f"unknown stream family {family!r}; choose from {', '.join(FAMILIES)}")
    return Results(tallies, out_throughput, series, time.perf_counter() - t0)


def stderr_log(start: float) -> Callable[[str], None]:
    def log(text: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {text}", file=sys.stderr, flush=True)
    return log

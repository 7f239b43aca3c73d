"""Rows, the printed table and the verdict.

Every figure goes into a row (a plain dict with the stable keys of
:data:`KEYS` for its ``kind``); the table and the verdict are computed from
the rows alone, so a tool reading ``--json`` can check the same things.

>>> poisson_interval(0, 1_000_000)
(0.0, 3.689)
>>> quantile([5.0, 1.0, math.inf, 3.0], 0.5), quantile([1.0, math.inf, math.inf], 0.5)
(3.0, None)
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from benchmarks import tcpd
from benchmarks.drift_bench import suite
from benchmarks.drift_bench.contenders import SUITE
from benchmarks.drift_bench.harness import Results, Tally
from driftline.detectors._stats import chi2_isf

KEYS = {
    "result": ("kind", "contender", "source", "family", "scenario", "target", "effect", "shape", "applies",
               "streams", "drifts_present", "drifts_detected", "horizon", "false_alarms", "events",
               "pre_drift_events", "false_alarms_per_1e6", "stationary_false_alarms_per_1e6", "stationary_events",
               "delay_median", "delay_p90", "delays", "events_per_s", "f1", "note"),
    "throughput": ("kind", "contender", "source", "values", "seconds", "values_per_s", "setup_s",
                   "steady_values_per_s", "note"),
    "verdict": ("kind", "check", "ok", "text"),
    "run": ("kind", "seed", "quick", "families", "contenders", "not_yet_in_driftline", "wall_s"),
}
FAMILY_TITLES = {
    "stationary": "stationary streams: false alarms (every detection is one)",
    "covariate": "covariate shift in one numeric feature of ten",
    "categorical": "categorical frequency shift in one feature of four",
    "joint": "joint shift invisible per feature (two features' correlation flips)",
    "concept": "concept drift with unchanged inputs (frozen Hoeffding tree's errors)",
    "regression": "concept drift of a regressor (frozen linear model's residuals on Friedman data)",
    "label": "label shift (the prediction column)",
    "tcpd": "TCPD: river's annotated change-point series, F1 at margin 5",
}
NO_CHANGE = "no change (floor)"
PER = 1e6


def quantile(values: list[float], q: float) -> float | None:
    """A sample quantile that is one of the values (inverted CDF); None when it is a miss."""
    if not values:
        return None
    v = float(np.quantile(np.asarray(values, dtype=float), q, method="inverted_cdf"))
    return None if math.isinf(v) else v


def poisson_interval(k: int, events: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson rate, per 10^6 events, rounded to 3 decimals."""
    a = (1.0 - level) / 2.0
    lo = 0.0 if k == 0 else chi2_isf(1.0 - a, 2 * k) / 2.0
    hi = chi2_isf(a, 2 * k + 2) / 2.0
    return round(lo / events * PER, 3), round(hi / events * PER, 3)


def row(kind: str, **values) -> dict:
    """A row of ``kind`` with every key of :data:`KEYS`, None where not given."""
    row = dict.fromkeys(KEYS[kind])
    row["kind"] = kind
    unknown = set(values) - set(row)
    if unknown:
        raise ValueError(f"not a key of a {kind} row: {sorted(unknown)}")
    row.update(values)
    return row


def _stationary_view(contender: str, target: str) -> str:
    if contender == SUITE:
        return "regressor" if target == "residuals" else "model"
    return target


def rows(results: Results) -> list[dict]:
    stationary = {(t.contender.name, t.scenario): t for t in results.tallies if t.family == "stationary"}

    def rate(t: Tally) -> tuple[float | None, int | None]:
        s = stationary.get((t.contender.name, _stationary_view(t.contender.name, t.target)))
        if s is None or not s.events:
            return None, None
        return round(s.false_alarms / s.events * PER, 3), s.events

    out = []
    for t in results.tallies:
        c = t.contender
        base = dict(contender=c.name, source=c.source, family=t.family, scenario=t.scenario, target=t.target,
                    effect=t.effect, shape=t.shape, applies=t.applies)
        if not t.applies:
            out.append(row("result", **base, note="n/a"))
            continue
        speed = round(t.events / t.seconds) if t.seconds > 0 else None
        common = dict(streams=t.streams, false_alarms=t.false_alarms, events=t.events, events_per_s=speed)
        if t.family == "tcpd":
            out.append(row("result", **base, **common, f1=round(t.f1, 4)))
        elif t.family == "stationary":
            note = ", ".join(f"{k} {v}" for k, v in t.member_hits.items()) if c.name == SUITE else ""
            if t.capped:
                note = (note + "; " if note else "") + "stopped at the false-alarm cap"
            per = round(t.false_alarms / t.events * PER, 3) if t.events else None
            out.append(row("result", **base, **common, drifts_present=0, drifts_detected=0,
                            pre_drift_events=t.events, false_alarms_per_1e6=per,
                            stationary_false_alarms_per_1e6=per, stationary_events=t.events, note=note))
        else:
            found = sum(1 for d in t.delays if math.isfinite(d))
            st_rate, st_events = rate(t)
            out.append(row(
                "result", **base, **common, horizon=t.horizon, drifts_present=len(t.delays),
                drifts_detected=found, pre_drift_events=t.pre_events,
                false_alarms_per_1e6=round(t.false_alarms / t.pre_events * PER, 3) if t.pre_events else None,
                stationary_false_alarms_per_1e6=st_rate, stationary_events=st_events,
                delay_median=quantile(t.delays, 0.5),
                delay_p90=quantile(t.delays, 0.9),
                delays=[d if math.isfinite(d) else None for d in t.delays], note=t.skipped))
    out += _tcpd_summary(results, out)
    for th in results.throughput:
        speed, steady = th.values_per_s, th.steady_values_per_s
        out.append(row("throughput", contender=th.contender, source=th.source, values=th.values,
                        seconds=round(th.seconds, 4), values_per_s=None if speed is None else round(speed),
                        setup_s=None if th.setup_s is None else round(th.setup_s, 4),
                        steady_values_per_s=None if steady is None else round(steady), note=th.note))
    return out


def _tcpd_summary(results: Results, rows_so_far: list[dict]) -> list[dict]:
    if not results.tcpd_series:
        return []
    out = []
    for s in results.tcpd_series:
        out.append(row("result", contender=NO_CHANGE, source="baseline", family="tcpd", scenario=s.name,
                        target="numeric", applies=True, streams=1, false_alarms=0, events=len(s.values),
                        f1=round(tcpd.f1(s.annotations, []), 4)))
    by = defaultdict(list)
    for r in rows_so_far + out:
        if r["family"] == "tcpd" and r["applies"]:
            by[r["contender"], r["source"]].append(r)
    for (name, source), rs in by.items():
        events, secs = sum(r["events"] for r in rs), [r["events"] / r["events_per_s"] for r in rs
                                                       if r["events_per_s"]]
        out.append(row("result", contender=name, source=source, family="tcpd", scenario="mean",
                        target="numeric", applies=True, streams=len(rs),
                        false_alarms=sum(r["false_alarms"] for r in rs), events=events,
                        events_per_s=round(events / sum(secs)) if secs else None,
                        f1=round(float(np.mean([r["f1"] for r in rs])), 4)))
    return out


# ---------------------------------------------------------------- verdict


def _pooled(rs: list[dict]) -> list[float]:
    return [math.inf if d is None else d for r in rs for d in (r["delays"] or [])]


def _fmt_delay(v: float | None, rs: list[dict] | None = None) -> str:
    if v is None:
        horizon = max((r["horizon"] or 0) for r in rs) if rs else None
        return f">{horizon}" if horizon else "missed"
    return f"{v:.0f}"


def verdict(rows_: list[dict], budget: float = suite.BUDGET) -> list[dict]:
    results = [r for r in rows_ if r["kind"] == "result" and r["applies"]]
    limit = budget * PER
    out = []

    # (a) the suite's false alarms on stationary streams of whole models
    for r in results:
        if r["family"] == "stationary" and r["contender"] == SUITE:
            lo, hi = poisson_interval(r["false_alarms"], r["events"])
            what = "a regressor" if r["scenario"] == "regressor" else "a classifier"
            where = ("includes the target" if lo <= limit <= hi else
                     "lies below the target" if hi < limit else "lies above the target")
            out.append(row("verdict", check="a", ok=r["false_alarms_per_1e6"] <= limit, text=(
                f"suite on {what}'s stationary stream: {r['false_alarms']} false alarms in {r['events']:,} "
                f"events = {r['false_alarms_per_1e6']:.3g} per 10^6 (95% interval {lo:g}-{hi:g}, which "
                f"{where}); target <= {limit:g} [by member: {r['note']}]")))

    # (b) every abrupt drift of medium or large effect found by the suite
    big = [r for r in results if r["contender"] == SUITE and r["shape"] == "abrupt"
           and r["effect"] in ("medium", "large")]
    if big:
        misses = [f"{r['family']}/{r['scenario']} {r['drifts_detected']}/{r['drifts_present']}"
                  for r in big if r["drifts_detected"] < r["drifts_present"]]
        total = sum(r["drifts_present"] for r in big)
        found = sum(r["drifts_detected"] for r in big)
        out.append(row("verdict", check="b", ok=not misses, text=(
            f"suite found {found}/{total} abrupt drifts of medium or large effect"
            + (f"; missed in: {', '.join(misses)}" if misses else ""))))

    # (c) delays against the fastest river detector within the same budget
    for family in ("covariate", "categorical", "joint", "concept", "regression", "label"):
        fam = [r for r in results if r["family"] == family and r["shape"] == "abrupt"
               and r["effect"] in ("medium", "large") and r["delays"] is not None]
        if not fam:
            continue
        by = defaultdict(list)
        for r in fam:
            by[r["contender"]].append(r)
        med = {name: quantile(_pooled(rs), 0.5) for name, rs in by.items()}
        found = {name: f"{sum(r['drifts_detected'] for r in rs)}/{sum(r['drifts_present'] for r in rs)}"
                 for name, rs in by.items()}

        def key(name):
            return math.inf if med[name] is None else med[name]

        def say(name):
            return f"{name} {_fmt_delay(med[name], by[name])} (found {found[name]})"
        parts = []
        if SUITE in by:
            parts.append(f"suite {_fmt_delay(med[SUITE], by[SUITE])} (found {found[SUITE]})")
        alone = [n for n in by if by[n][0]["source"] == "driftline" and n != SUITE]
        if alone:
            parts.append("best driftline detector " + say(min(alone, key=key)))
        river = [n for n in by if by[n][0]["source"] == "river"]
        # Within budget: a stationary rate at most the budget, measured over
        # enough events that the budget itself allows about one false alarm.
        rates = {n: (by[n][0]["stationary_false_alarms_per_1e6"], by[n][0]["stationary_events"] or 0)
                 for n in river}
        within = [n for n in river if rates[n][0] is not None and rates[n][0] <= limit
                  and rates[n][1] * budget >= 1.0]
        unsure = [n for n in river if rates[n][0] is not None and rates[n][0] <= limit and n not in within]
        ok = None
        if not river:
            parts.append("no river detector applies")
        else:
            if within:
                best = min(within, key=key)
                parts.append("fastest river within budget " + say(best))
                ok = key(SUITE) <= key(best) if SUITE in by else None
            else:
                parts.append("fastest river within budget: none within budget")
            if unsure:
                parts.append("rate not established (too few stationary events): " + ", ".join(
                    f"{say(n)} ({rates[n][0]:g} per 10^6 over {rates[n][1]:,} events)" for n in unsure))
            fastest = min(river, key=key)
            fa = rates[fastest][0]
            parts.append(f"fastest river at any false-alarm rate {say(fastest)}"
                         + (f" at {fa:g} false alarms per 10^6" if fa is not None else ""))
        out.append(row("verdict", check="c", ok=ok, text=(
            f"{family}, abrupt medium/large, median delay in rows: " + "; ".join(parts))))

    # (d) TCPD mean F1 against the no-change floor
    means = {r["contender"]: r for r in results if r["family"] == "tcpd" and r["scenario"] == "mean"}
    if NO_CHANGE in means:
        floor = means[NO_CHANGE]["f1"]
        for name, r in means.items():
            if r["source"] == "driftline":
                best_river = max((m for m in means.values() if m["source"] == "river"), key=lambda m: m["f1"],
                                 default=None)
                out.append(row("verdict", check="d", ok=r["f1"] > floor, text=(
                    f"TCPD mean F1 of {name}: {r['f1']:.3f} vs no-change floor {floor:.3f}"
                    + (f" (best river: {best_river['contender']} {best_river['f1']:.3f})" if best_river else ""))))

    # (e) numeric data-drift throughput on one core
    th = {r["contender"]: r for r in rows_ if r["kind"] == "throughput"}
    if "NumericDrift" in th:
        base = "; ".join(f"{n} {_num(r['values_per_s'])}" for n, r in th.items() if r["source"] != "driftline")
        r = th["NumericDrift"]
        out.append(row("verdict", check="e", ok=None if r["values_per_s"] is None else r["values_per_s"] >= 1e6, text=(
            f"NumericDrift: {_num(r['values_per_s'])} feature values/s over {r['values']:,} values, warm-up "
            f"and calibration included ({_num(r['steady_values_per_s'])}/s after its slowest update, "
            f"{r['setup_s']:.2f}s); target >= 1,000,000; baselines: {base}")))
    return out


# ---------------------------------------------------------------- table


def _num(v, fmt="{:,.0f}", none="-") -> str:
    return none if v is None else fmt.format(v)


def table(rows_: list[dict]) -> str:
    lines = []
    results = [r for r in rows_ if r["kind"] == "result"]
    families = list(dict.fromkeys(r["family"] for r in results))
    for family in families:
        fam = [r for r in results if r["family"] == family]
        live = [r for r in fam if r["applies"]]
        lines.append("")
        lines.append(f"== {FAMILY_TITLES.get(family, family)} ==")
        if family == "stationary":
            lines.append(f"{'contender':28s} {'view':12s} {'events':>10s} {'false alarms':>12s} "
                         f"{'per 10^6':>9s} {'events/s':>10s}")
            for r in live:
                lines.append(f"{r['contender']:28s} {r['scenario']:12s} {r['events']:>10,} "
                             f"{r['false_alarms']:>12,} {_num(r['false_alarms_per_1e6'], '{:.3g}'):>9s} "
                             f"{_num(r['events_per_s']):>10s}" + (f"  {r['note']}" if r["note"] else ""))
        elif family == "tcpd":
            series = list(dict.fromkeys(r["scenario"] for r in live))
            lines.append(f"{'contender':28s} " + " ".join(f"{s[:9]:>9s}" for s in series))
            by = defaultdict(dict)
            for r in live:
                by[r["contender"]][r["scenario"]] = r["f1"]
            for name, f1s in by.items():
                lines.append(f"{name:28s} " + " ".join(f"{_num(f1s.get(s), '{:.3f}'):>9s}" for s in series))
        else:
            horizon = max((r["horizon"] or 0) for r in live) if live else 0
            lines.append(f"{'contender':28s} {'scenario':32s} {'found':>7s} {'FA/10^6':>8s} {'FA pre':>6s} "
                         f"{'median':>7s} {'p90':>7s} {'events/s':>10s}   (horizon {horizon} rows; "
                         f"FA/10^6 from stationary streams)")
            for scenario in dict.fromkeys(r["scenario"] for r in live):
                for r in (x for x in live if x["scenario"] == scenario):
                    if not r["streams"]:
                        lines.append(f"{r['contender']:28s} {scenario[:32]:32s} {r['note']}")
                        continue
                    lines.append(
                        f"{r['contender']:28s} {scenario[:32]:32s} "
                        f"{r['drifts_detected']:>3}/{r['drifts_present']:<3} "
                        f"{_num(r['stationary_false_alarms_per_1e6'], '{:.3g}'):>8s} {r['false_alarms']:>6} "
                        f"{_num(r['delay_median'], none=_fmt_delay(None, [r])):>7s} "
                        f"{_num(r['delay_p90'], none=_fmt_delay(None, [r])):>7s} {_num(r['events_per_s']):>10s}")
        na = list(dict.fromkeys(r["contender"] for r in fam if not r["applies"]))
        if na:
            lines.append(f"n/a here: {', '.join(na)}")
    if results:
        lines.append("")
        lines.append("found: drifts detected within the horizon / drifts present; FA/10^6: false alarms per 10^6 "
                     "events on the stationary streams of the same kind (for the suite: whole model rows); "
                     "FA pre: false alarms before the drift points; median, p90: rows from the drift point to "
                     "the first detection (a miss counts as later than any, shown as >horizon); events/s: "
                     "rows through update(), warm-up and calibration included, which weigh heavily on "
                     "these short streams (see the throughput section for long ones).")
    th = [r for r in rows_ if r["kind"] == "throughput"]
    if th:
        lines.append("")
        lines.append("== numeric data drift throughput (ten features, one core) ==")
        for r in th:
            steady = (f"; {_num(r['steady_values_per_s'])}/s after the slowest update ({r['setup_s']:.2f}s)"
                      if r["setup_s"] is not None else "")
            lines.append(f"{r['contender']:36s} {_num(r['values_per_s']):>12s} values/s  ({r['values']:,} values"
                         + (f"; {r['note']}" if r["note"] else "") + steady + ")")
    return "\n".join(lines)


def verdict_text(verdicts: list[dict]) -> str:
    mark = {True: "yes", False: "NO", None: "--"}
    lines = ["", "== verdict (from this run) =="]
    for v in verdicts:
        lines.append(f"({v['check']}) [{mark[v['ok']]:>3s}] {v['text']}")
    return "\n".join(lines)

"""The replay's report: one self-contained HTML page of inline SVG charts, no script, no link.

Every chart has the replayed stream's event index on its x axis, with the
replay's alerts marked above it (red), the live monitor's alerts below it
(blue) and the changes of serving version as grey dashed lines.

>>> svg = line_chart("accuracy", [Series("acc", [0, 10, 20], [0.9, 0.8, None], "#333")], 20,
...                  markers=[Marker(10, "replay", "ks x")])
>>> svg.startswith("<svg") and 'class="replay"' in svg and svg.count("<circle") == 2
True
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
from collections.abc import Sequence
from typing import Any

W, H = 900, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 44, 34
MAX_POINTS = 2000  # per series; longer ones are thinned evenly
MARK_COLOURS = {"replay": "#d62728", "live": "#1f77b4", "version": "#888888"}


@dataclasses.dataclass
class Series:
    name: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    colour: str
    dash: str = ""
    line: bool = True  # False: dots only


@dataclasses.dataclass
class Marker:
    x: float
    kind: str  # "replay", "live" or "version"
    label: str


def _thin(xs: Sequence[float], ys: Sequence[float | None]) -> list[tuple[float, float | None]]:
    pairs = list(zip(xs, ys))
    if len(pairs) <= MAX_POINTS:
        return pairs
    step = len(pairs) / MAX_POINTS
    return [pairs[int(i * step)] for i in range(MAX_POINTS)] + [pairs[-1]]


def _finite(y: Any) -> bool:
    return isinstance(y, (int, float)) and math.isfinite(y)


def line_chart(title: str, series: list[Series], x_max: float, markers: Sequence[Marker] = (),
               y_label: str = "", log_y: bool = False) -> str:
    """One chart as an ``<svg>`` element: lines with a dot per point, and the markers."""
    ys = [y for s in series for y in s.ys if _finite(y) and (not log_y or y > 0)]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if log_y and ys:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    x_max = max(x_max, 1)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + pw * x / x_max

    def py(y: float) -> float:
        v = math.log10(y) if log_y else y
        return TOP + ph * (1 - (v - lo) / (hi - lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'role="img" aria-label="{html.escape(title)}">',
           f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>',
           f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>']
    for k in range(5):  # y ticks
        v = lo + (hi - lo) * k / 4
        y = TOP + ph * (1 - k / 4)
        shown = 10 ** v if log_y else v
        out.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{shown:.3g}</text>')
    for k in range(6):  # x ticks
        x = x_max * k / 5
        out.append(f'<text x="{px(x):.1f}" y="{H - BOTTOM + 14}" font-size="10" '
                   f'text-anchor="middle">{int(x)}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 4}" font-size="10" text-anchor="middle">'
               f'event index (predictions and feedback replayed)</text>')
    if y_label:
        out.append(f'<text x="12" y="{TOP + ph / 2}" font-size="10" text-anchor="middle" '
                   f'transform="rotate(-90 12 {TOP + ph / 2})">{html.escape(y_label)}</text>')
    for m in markers:
        x, colour = px(m.x), MARK_COLOURS[m.kind]
        if m.kind == "version":
            out.append(f'<line class="version" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + ph}" '
                       f'stroke="{colour}" stroke-dasharray="4 3"><title>{html.escape(m.label)}</title></line>')
        else:  # replay above the plot, live below its top edge
            y0, y1 = (TOP - 8, TOP + 6) if m.kind == "replay" else (TOP + ph - 6, TOP + ph + 8)
            out.append(f'<line class="{m.kind}" x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y1}" '
                       f'stroke="{colour}" stroke-width="3"><title>{html.escape(m.label)}</title></line>')
    for s in series:
        runs: list[list[tuple[float, float]]] = [[]]  # a gap in the figures breaks the line
        for x, y in _thin(s.xs, s.ys):
            if _finite(y) and (not log_y or y > 0):
                runs[-1].append((px(x), py(y)))
            elif runs[-1]:
                runs.append([])
        pts = [p for run in runs for p in run]
        if not pts:
            continue
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        for run in runs if s.line else ():
            if run:
                joined = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                out.append(f'<polyline class="series" points="{joined}" fill="none" stroke="{s.colour}"'
                           f' stroke-width="1.5"{dash}><title>{html.escape(s.name)}</title></polyline>')
        if len(pts) <= 400 or not s.line:
            r = 1.8 if s.line else 3.5
            out += [f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{s.colour}"/>'
                    for x, y in pts]
    legend_x = LEFT
    for s in series:
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        out.append(f'<line x1="{legend_x}" y1="28" x2="{legend_x + 18}" y2="28" stroke="{s.colour}" '
                   f'stroke-width="2"{dash}/>'
                   f'<text x="{legend_x + 22}" y="32" font-size="11">{html.escape(s.name)}</text>')
        legend_x += 30 + 7 * len(s.name)
    out.append("</svg>")
    return "\n".join(out)


def _markers(summary: dict[str, Any]) -> list[Marker]:
    marks = [Marker(v["event_index"], "version", f"v{v['version']} from event {v['event_index']}")
             for v in summary["versions"][1:]]
    for kind, alerts in (("replay", summary["alerts"]), ("live", summary["live_alerts"])):
        for a in alerts:  # the episodes' openings; their ends are in the tables
            if a.get("event_index") is not None and a.get("status", "firing") == "firing":
                marks.append(Marker(a["event_index"], kind,
                                    f"{kind}: {a['kind']} {a['detector']} {a['feature'] or ''} at event "
                                    f"{a['event_index']}: {a['message']}"))
    return marks


def drift_charts(points: list[Any], detectors: set[str] | None, x_max: float,
                 markers: list[Marker], first: Sequence[tuple[str, str | None]] = ()) -> list[str]:
    """A chart per (detector, feature) of the statistics the monitor reported, with thresholds;
    those of the ``first`` keys (the ones that alerted) lead, in that order."""
    by_key: dict[tuple[str, str | None], tuple[list, list, list]] = {}
    for p in points:
        for d in p.drift:
            if detectors is not None and d.get("detector") not in detectors:
                continue
            xs, stat, thr = by_key.setdefault((d.get("detector"), d.get("feature")), ([], [], []))
            xs.append(p.event_index)
            stat.append(d.get("statistic"))
            thr.append(d.get("threshold"))
    charts = []
    rank = {key: i for i, key in reversed(list(enumerate(first)))}
    for (det, feat), (xs, stat, thr) in sorted(
            by_key.items(), key=lambda kv: (rank.get(kv[0], len(rank)), str(kv[0][0]), str(kv[0][1]))):
        title = f"{det} on {feat}" if feat else f"{det}"
        charts.append(line_chart(title, [Series("statistic", xs, stat, "#2ca02c"),
                                         Series("threshold", xs, thr, "#d62728", "5 3")],
                                 x_max, markers, "statistic"))
    return charts


def alert_figures_chart(summary: dict[str, Any], x_max: float, markers: list[Marker]) -> str:
    """The figures each alert carried (its statistic and threshold), for a monitor that
    reports no per-batch statistics."""
    series = []
    for kind, who, colour in (("alerts", "replay", "#d62728"), ("live_alerts", "live", "#1f77b4")):
        rows = [a for a in summary[kind] if a.get("event_index") is not None]
        xs = [a["event_index"] for a in rows]
        series += [Series(f"{who}: statistic", xs, [a["value"] for a in rows], colour, line=False),
                   Series(f"{who}: threshold", xs, [a["threshold"] for a in rows], "#ff7f0e", line=False)]
    return line_chart("drift statistics and thresholds at each alert", series, x_max, markers,
                      "statistic")


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    cols = ["event_index", "prediction_index", "event_ts", "version", "status", "kind", "severity",
            "detector", "feature", "value", "threshold", "message"]
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def render(summary: dict[str, Any], points: list[Any]) -> str:
    """The report page for a replay's ``summary`` and its per-batch ``points``."""
    x_max = max(summary["events"]["replayed"], 1)
    markers = _markers(summary)
    detectors = set(summary["config"]["detectors"]) if summary["config"]["detectors"] else None
    xs = [p.event_index for p in points]
    charts = [line_chart("accuracy and label coverage", [
        Series("rolling accuracy", xs, [p.accuracy for p in points], "#333333"),
        Series("label coverage", xs, [p.label_coverage for p in points], "#9467bd", "4 2")],
        x_max, markers, "share")]
    alerted = [(a["detector"], a["feature"]) for a in summary["alerts"] + summary["live_alerts"]]
    drift = drift_charts(points, detectors, x_max, markers, alerted)
    charted = {(d.get("detector"), d.get("feature")) for p in points for d in p.drift}
    note = ""
    if not drift:
        note = ("<p>This monitor reports no per-batch drift statistics in its metrics records; "
                "the chart shows the figures each alert carried.</p>")
        drift = [alert_figures_chart(summary, x_max, markers)]
    elif any(key not in charted for key in alerted):  # e.g. ADWIN's cut, which has no running figure
        drift.insert(0, alert_figures_chart(summary, x_max, markers))
    first, live = summary["first_alert"], summary["first_live_alert"]

    def at(a: dict | None) -> str:
        if a is None:
            return "none"
        return (f"event {a['event_index']} (prediction {a['prediction_index']}, event time "
                f"{a['event_ts']}): {html.escape(a['kind'])}/{html.escape(a['detector'])}"
                f"{' on ' + html.escape(a['feature']) if a['feature'] else ''}")

    cfg = summary["config"]
    e = summary["events"]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>driftline replay of {html.escape(summary['model_id'])}</title>",
        "<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;"
        "font-size:12px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}"
        "svg{display:block;margin:12px 0}.key span{display:inline-block;margin-right:18px}</style>",
        "</head><body>",
        f"<h1>Replay of {html.escape(summary['model_id'])}</h1>",
        f"<p>{e['replayed']} events replayed ({e['predictions']} predictions, {e['feedback']} labels) "
        f"from {html.escape(summary['span']['from'])} to {html.escape(summary['span']['to'])}; "
        f"false-alarm rate {cfg['false_alarm_rate']:g}, window {cfg['window']}, reference "
        f"{html.escape(cfg['reference'])} (warm-up size {cfg['reference_size']}), detectors "
        f"{html.escape(', '.join(cfg['detectors']) if cfg['detectors'] else 'all')}.</p>",
        f"<p>First alert of the replay: {at(first)}.<br>First alert of the live monitor: {at(live)}.</p>",
        '<p class="key"><span style="color:#d62728">&#9646; replay alert (top)</span>'
        '<span style="color:#1f77b4">&#9646; live alert (bottom)</span>'
        '<span style="color:#888">&#9482; serving version changed</span></p>',
        *charts, note, *drift,
        f"<h2>Alerts of the replay ({len(summary['alerts'])})</h2>", _table(summary["alerts"]),
        f"<h2>Alerts of the live monitor ({len(summary['live_alerts'])})</h2>", _table(summary["live_alerts"]),
        "<h2>Summary</h2>", f"<pre>{html.escape(json.dumps(summary, indent=1))}</pre>",
        "</body></html>"])

"""Running the monitor over replayed events, in process and in batches, as the worker does.

:class:`ReplayRun` feeds :meth:`ModelMonitor.process` ``batch_size`` events
at a time (the worker's batch path) and keeps what a report needs: every
alert with where in the stream it fell, a metrics record per batch (accuracy,
label coverage and, where the monitor reports them, its detectors' statistics
and thresholds), and where the serving version changed. Each batch is
processed at the newest Kafka timestamp among its records, the time the live
monitor read them at the earliest, so its clock and its label expiry run as
they did live.

>>> from driftline.contract import Feedback, Prediction
>>> from driftline.consumers.monitor import MonitorConfig
>>> run = ReplayRun("m", MonitorConfig(metrics_every=1), batch_size=2)
>>> events = [(Prediction("p1", "m", "1", 10, {"x": 1.0}, 1), 11), (Feedback("f1", "p1", "m", 20, 1), 21),
...           (Prediction("p2", "m", "1", 30, {"x": 2.0}, 0), 31)]
>>> result = run.run(events)
>>> result.n_events, result.n_predictions, result.n_feedback, [p.accuracy for p in result.points]
(3, 2, 1, [1.0, 1.0])
>>> [(p.event_index, p.version) for p in result.points]
[(2, '1'), (3, '1')]
"""

from __future__ import annotations

import dataclasses
import time
from array import array
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from driftline.consumers.monitor import ModelMonitor, MonitorConfig, ProfileSource
from driftline.contract import Prediction


@dataclasses.dataclass
class Point:
    """The monitor's figures after one batch."""

    event_index: int  # events replayed so far
    event_ts: int  # the model's watermark
    version: str
    accuracy: float | None
    label_coverage: float | None
    n_predictions: int
    n_labeled: int
    drift: list[dict[str, Any]]  # [{"detector", "feature", "statistic", "threshold"}], if reported


@dataclasses.dataclass
class ReplayResult:
    n_events: int = 0
    n_predictions: int = 0
    n_feedback: int = 0
    n_rejected: int = 0
    alerts: list[Any] = dataclasses.field(default_factory=list)  # contract Alerts, in order
    points: list[Point] = dataclasses.field(default_factory=list)
    versions: list[tuple[int, int, str]] = dataclasses.field(default_factory=list)  # (index, ts, version)
    first_ts: int | None = None
    last_ts: int | None = None
    monitor_s: float = 0.0  # time spent in ModelMonitor.process
    # Event time -> position, to place alerts (the replay's and the live ones) in the stream.
    _pred_ts: array = dataclasses.field(default_factory=lambda: array("q"))
    _pred_index: array = dataclasses.field(default_factory=lambda: array("q"))
    _order: np.ndarray | None = None

    def place(self, event_ts: int) -> tuple[int | None, int | None]:
        """``(event_index, prediction_index)`` of the first prediction replayed at or after
        ``event_ts``: its position in the replayed stream and among the predictions; None
        when no prediction replayed is that late."""
        if self._order is None:
            self._order = np.argsort(np.frombuffer(self._pred_ts, dtype=np.int64), kind="stable")
        ts = np.frombuffer(self._pred_ts, dtype=np.int64)[self._order]
        i = int(np.searchsorted(ts, event_ts, side="left"))
        if i >= len(ts):
            return None, None
        j = int(self._order[i])
        return int(self._pred_index[j]), j


class ReplayRun:
    """One model's monitor over a replayed stream (see the module docstring).

    ``progress`` is called after every batch with the result so far.
    """

    def __init__(self, model_id: str, config: MonitorConfig, batch_size: int = 500,
                 profiles: ProfileSource | None = None,
                 progress: Callable[[ReplayResult], None] | None = None) -> None:
        self.monitor = ModelMonitor(model_id, config, profiles)
        self.batch_size = batch_size
        self.progress = progress

    def run(self, events: Iterable[tuple[Any, int]]) -> ReplayResult:
        """Replay ``(event, kafka_ts)`` pairs in the order given."""
        result = ReplayResult()
        batch: list[Any] = []
        newest = 0
        version = None
        for ev, kafka_ts in events:
            index = result.n_events + len(batch)
            if type(ev) is Prediction:
                result._pred_ts.append(ev.ts)
                result._pred_index.append(index)
                if ev.model_version != version:
                    version = ev.model_version
                    result.versions.append((index, ev.ts, version))
            if result.first_ts is None or ev.ts < result.first_ts:
                result.first_ts = ev.ts
            if result.last_ts is None or ev.ts > result.last_ts:
                result.last_ts = ev.ts
            batch.append(ev)
            newest = max(newest, kafka_ts)
            if len(batch) >= self.batch_size:
                self._process(batch, newest, result)
                batch = []
        if batch:
            self._process(batch, newest, result)
        return result

    def _process(self, batch: list[Any], now_ms: int, result: ReplayResult) -> None:
        started = time.perf_counter()
        out = self.monitor.process(batch, now_ms)
        result.monitor_s += time.perf_counter() - started
        n_pred = sum(1 for ev in batch if type(ev) is Prediction)
        result.n_predictions += n_pred
        result.n_feedback += len(batch) - n_pred
        result.n_events += len(batch)
        result.n_rejected += len(out.rejected)
        result.alerts += out.alerts
        for m in out.metrics:
            result.points.append(Point(
                event_index=result.n_events, event_ts=m.event_ts, version=m.model_version,
                accuracy=m.accuracy, label_coverage=m.label_coverage, n_predictions=m.n_predictions,
                n_labeled=m.n_labeled, drift=[dict(d) for d in (getattr(m, "drift", None) or ())]))
        if self.progress is not None:
            self.progress(result)

"""The contenders of ``benchmarks/loop.py``: who predicts each event, and how they learn.

Every contender is asked for a block of predictions, then handed the labels
that have arrived by the end of the block (labels come ``delay`` events after
their prediction). Batch contenders answer with the majority label seen so
far until they have a model.

- :class:`Static`: the default trainer on the first ``min_train_examples``
  labels, never retrained.
- :class:`Periodic`: retrained every ``period`` events on the labels of the
  last ``period`` events.
- :class:`Oracle`: retrained at each true drift point on the first
  ``min_train_examples`` labels after it (the same wait driftline has, with a
  perfect and instant detector).
- :class:`DriftlineLoop`: driftline itself, in process: the monitor
  (:class:`~driftline.consumers.monitor.ModelMonitor` with its real
  detectors) is fed predictions and feedback in batches as the faust agent
  feeds it; its retrain requests go to :func:`~driftline.retrainer.orchestration.job.retrain`
  (the real trainer in its child process, the real gate, a SQLite registry
  and an artifact store in a temporary folder) with the labeled examples the
  monitor emitted since the request's ``since_ts``, or, for a rollback
  request, to :func:`~driftline.retrainer.orchestration.rollback.roll_back` as the worker
  does; a new champion is loaded from the store and serves from the next block,
  and the monitor hears each version's announcement as the worker's does.
- :class:`Online`: a river learner (ARF, HAT) that learns each label as it arrives.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from driftline.consumers.monitor import MonitorConfig, ModelMonitor
from driftline.consumers.profiles import RegistryProfiles
from driftline.contract import Feedback, Prediction, RetrainRequest, new_id
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.data.frame import labeled_frame
from driftline.retrainer.orchestration.job import retrain
from driftline.retrainer.persistence.registry import Registry
from driftline.retrainer.orchestration.rollback import roll_back
from driftline.retrainer.learners.tabular import fit_default
from driftline.settings import Settings

Label = tuple[int, dict, Any]  # (event index, features, label)


class Contender:
    """Base: keeps the labels, the swap points and the training time."""

    name = "contender"

    def __init__(self) -> None:
        self.seen: list[Label] = []
        self.counts: Counter = Counter()
        self.swaps: list[int] = []  # event indices from which a new model served
        self.retrains = 0
        self.train_seconds = 0.0
        self.model: Any = None

    def fallback(self) -> Any:
        return self.counts.most_common(1)[0][0] if self.counts else 0

    def predict(self, t: int, xs: list[dict]) -> list:
        if self.model is None:
            return [self.fallback()] * len(xs)
        return self.model.predict_many(xs)

    def learn(self, t: int, arrived: list[Label]) -> None:
        self.seen.extend(arrived)
        self.counts.update(y for _, _, y in arrived)

    def fit(self, rows: list[Label], t: int) -> None:
        started = time.process_time()
        df = pd.DataFrame([x for _, x, _ in rows])
        df["label"] = [y for _, _, y in rows]
        df["ts"] = [i for i, _, _ in rows]
        self.model = fit_default(df, [c for c in df.columns if c not in ("label", "ts")])
        self.train_seconds += time.process_time() - started
        self.swaps.append(t)

    def close(self) -> None:
        pass


class Static(Contender):
    name = "static"

    def __init__(self, min_train: int) -> None:
        super().__init__()
        self.min_train = min_train

    def learn(self, t: int, arrived: list[Label]) -> None:
        super().learn(t, arrived)
        if self.model is None and len(self.seen) >= self.min_train:
            self.fit(self.seen[: self.min_train], t)


class Periodic(Static):
    name = "periodic"

    def __init__(self, min_train: int, period: int) -> None:
        super().__init__(min_train)
        self.period = period
        self._next = None

    def learn(self, t: int, arrived: list[Label]) -> None:
        first = self.model is None
        super().learn(t, arrived)
        if first and self.model is not None:
            self._next = t + self.period
        elif self._next is not None and t >= self._next:
            self._next = t + self.period
            self.fit([r for r in self.seen if r[0] >= t - self.period], t)
            self.retrains += 1


class Oracle(Static):
    name = "oracle"

    def __init__(self, min_train: int, drifts: list[int]) -> None:
        super().__init__(min_train)
        self.pending = sorted(drifts)

    def learn(self, t: int, arrived: list[Label]) -> None:
        super().learn(t, arrived)
        while self.pending and self.model is not None:
            after = [r for r in self.seen if r[0] >= self.pending[0]]
            if len(after) < self.min_train:
                break
            self.pending.pop(0)
            self.fit(after, t)
            self.retrains += 1


class Online(Contender):
    """A river classifier learning each label as it arrives."""

    def __init__(self, name: str, estimator: Any) -> None:
        super().__init__()
        self.name = name
        self.estimator = estimator

    def predict(self, t: int, xs: list[dict]) -> list:
        out = []
        for x in xs:
            y = self.estimator.predict_one(x)
            out.append(self.fallback() if y is None else y)
        return out

    def learn(self, t: int, arrived: list[Label]) -> None:
        super().learn(t, arrived)
        started = time.process_time()
        for _, x, y in arrived:
            self.estimator.learn_one(x, y)
        self.train_seconds += time.process_time() - started


class DriftlineLoop(Contender):
    """The monitor and the retrainer, in process, on the same code paths as the workers."""

    name = "driftline"

    def __init__(self, settings: Settings, workdir: Path, ms_per_event: int = 1,
                 model_id: str = "bench", refresh_after: int | None = None) -> None:
        super().__init__()
        # A policy the monitor does not have (yet): once a version retrained after a drift has
        # served ``refresh_after`` labeled events, retrain once more on those alone.
        self.refresh_after = refresh_after
        self._refresh_since: int | None = None
        self.settings = settings
        self.model_id = model_id
        self.ms = ms_per_event
        self.registry = Registry(f"sqlite:///{workdir / 'registry.db'}")
        self.store = ArtifactStore(workdir / "artifacts", key=secrets.token_bytes(32))
        self.monitor = ModelMonitor(model_id, MonitorConfig.from_settings(settings),
                                    RegistryProfiles(registry=self.registry))
        self.version = "0"
        self.topic: list = []  # what the monitor wrote to the labeled topic
        self.waiting: list = []  # retrain requests the worker has not answered yet
        self.requests = 0
        self.promoted = 0
        self.rollbacks = 0  # rollback requests (each restores the previous champion or retrains)
        self.alerts: list = []
        self._batch: list = []

    def predict(self, t: int, xs: list[dict]) -> list:
        predictions = super().predict(t, xs)
        self._batch.extend(Prediction(f"p{t + i}", self.model_id, self.version, (t + i) * self.ms, x, p)
                           for i, (x, p) in enumerate(zip(xs, predictions)))
        return predictions

    def learn(self, t: int, arrived: list[Label]) -> None:
        super().learn(t, arrived)
        events = self._batch + [Feedback(f"f{i}", f"p{i}", self.model_id, t * self.ms, y)
                                for i, _, y in arrived]
        self._batch = []
        out = self.monitor.process(events, now_ms=t * self.ms)
        self.topic.extend(out.labeled)
        self.alerts.extend(out.alerts)
        self.waiting.extend(out.retrain)
        self.requests += len(out.retrain)
        if self._refresh_since is not None:
            fresh = sum(1 for e in self.topic if e.ts >= self._refresh_since)
            if fresh >= self.refresh_after:
                self.waiting.append(RetrainRequest(new_id(), self.model_id, ["refresh"],
                                                   since_ts=self._refresh_since, ts=t * self.ms,
                                                   reason="refresh on the new concept"))
                self._refresh_since = None
        for request in list(self.waiting):
            window = [e for e in self.topic if e.ts >= request.since_ts][: self.settings.max_train_examples]
            if len(window) < self.settings.min_train_examples and not request.is_rollback:
                continue  # the worker waits for labels (not for a rollback: they are in)
            self.waiting.remove(request)
            started = time.perf_counter()
            if request.is_rollback:  # as the worker does
                record = roll_back(request, labeled_frame(window), self.registry, self.store, self.settings)
                self.rollbacks += 1
                retrained = record is not None and record.request_id == request.request_id
            else:
                record = retrain(request, labeled_frame(window), self.registry, self.store, self.settings)
                retrained = bool(request.alert_ids)
            self.train_seconds += time.perf_counter() - started
            self.retrains += retrained
            if record is not None:  # as the monitor worker reads it off the model-versions topic
                self.monitor.answered(record.announcement(t * self.ms))
            if record is not None and record.status == "champion" and record.version != self.version:
                # As the model client does: load the published artifact, serve from the next block.
                self.model = self.store.load(record.artifact_uri, record.sha256)
                self.version = record.version
                self.swaps.append(t)
                self.promoted += 1
                if self.refresh_after and request.alert_ids and request.alert_ids != ["refresh"]:
                    self._refresh_since = t * self.ms

    def close(self) -> None:
        self.registry.close()

"""One model's monitor: joins labels, feeds the detectors, and decides what to publish.

Pure logic: no Kafka, no clock (the caller passes ``now_ms``). The worker in
:mod:`driftline.consumers.worker` and the in-process benchmarks drive the
same class, so what is measured is what runs. It is a composition of small
parts, each with its own tests and its own plain state:

====================  =====================================================
``recent``            :class:`~driftline.consumers.dedup.RecentIds`: events seen twice
``clock``             :class:`~driftline.consumers.clock.EventClock`: believable event times
``join``              :class:`~driftline.consumers.join.LabelJoin`: predictions and labels
``suite``             :class:`~driftline.detectors.suite.DriftSuite`: the serving version's detectors
``policy``            :class:`~driftline.detectors.AlertPolicy`: one alert per drift episode
``scheduler``         :class:`~driftline.consumers.scheduler.RetrainScheduler`: retrain requests
``promotions``        :class:`~driftline.consumers.promotions.PromotionWatch`: rollbacks
====================  =====================================================

>>> from driftline.contract import Prediction, Feedback
>>> m = ModelMonitor("fraud", MonitorConfig(metrics_every=2))
>>> out = m.process([Prediction("p1", "fraud", "1", 10, {"x": 1.0}, 1),
...                  Feedback("f1", "p1", "fraud", 20, 1),
...                  Prediction("p2", "fraud", "1", 30, {"x": 2.0}, 0)], now_ms=40)
>>> [e.event_id for e in out.labeled], out.metrics[0].accuracy
(['p1'], 1.0)
>>> back = ModelMonitor.from_state(m.state_dict(), MonitorConfig(metrics_every=2))
>>> back.counts == m.counts and back.version == m.version
True
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
import numpy as np

from driftline.consumers.clock import EventClock
from driftline.consumers.dedup import RecentIds
from driftline.consumers.join import LabelJoin
from driftline.consumers.promotions import PromotionWatch
from driftline.consumers.scheduler import NO_MODEL, RetrainScheduler, SchedulerConfig
from driftline.contract import (
    PREDICTION_COLUMN, Alert, Feedback, Labeled, Metrics, ModelVersion, Prediction, RetrainRequest,
    new_id,
)
from driftline.detectors import AlertPolicy, Detection
from driftline.detectors.profile import PREDICTION, ReferenceProfile
from driftline.detectors.features.quality import MISSING, WRONG_TYPE
from driftline.detectors.suite import DriftSuite
from driftline.detectors.summary import FeatureSummary, RollingAccuracy
from driftline.settings import Settings

# (model_id, version) -> the profile the version was registered with, or None.
ProfileSource = Callable[[str, str], "ReferenceProfile | None"]


@dataclasses.dataclass(frozen=True)
class MonitorConfig:
    reference_size: int = 1000
    window: int = 500
    false_alarm_rate: float = 1e-6
    retrain_on: tuple[str, ...] = ("concept_drift", "performance")
    label_ttl_ms: int = 3_600_000
    max_pending: int = 200_000
    metrics_every: int = 1000
    retrain_cooldown_ms: int = 600_000
    min_train_examples: int = 1000
    recent_ids: int = 8192
    accuracy_window: int = 1000
    rollback_window: int = 1000  # 0: promoted versions are not tested
    rollback_confidence: float = 0.999
    # A drift found on the labels is asked about once the serving version's losses have
    # stopped rising over the newest settle_window labels (consumers/settle.py), so the
    # window starts on the new concept; None: min_train_examples, 0: ask at once.
    settle_window: int | None = None
    settle_rise_z: float = 1.0
    settle_patience: int | None = None  # labels after the detection; None: 5 settle windows
    # A request about a drift on the labels that gave no new version is repeated (after the
    # cooldown, doubled each time) while the version's newest settle_window losses stay this
    # many standard errors above its losses before the drift.
    still_worse_z: float = 3.0
    # ... and, without waiting out the cooldown, once the labels since the turned-down
    # window's start are this many times those it held: a gate that could not tell on a
    # small holdout is asked again on a window that has grown enough to tell. None: never.
    ask_again_growth: float | None = 2.0
    # Event times further than this from the model's clock are refused (see consumers/clock.py).
    max_event_skew_ms: int = 86_400_000
    # Features one event may carry; a model's columns are those of its first events.
    max_features: int = 1000
    # The suite's entries and their shares (driftline.detectors.entries); None: the default.
    detectors: Mapping[str, float | None] | None = None

    @classmethod
    def from_settings(cls, s: Settings) -> MonitorConfig:
        return cls(reference_size=s.reference_size, false_alarm_rate=s.false_alarm_rate,
                   retrain_on=tuple(s.retrain_on), label_ttl_ms=s.label_ttl_ms,
                   max_pending=s.max_pending, metrics_every=s.metrics_every,
                   retrain_cooldown_ms=s.retrain_cooldown_ms,
                   min_train_examples=s.min_train_examples,
                   rollback_window=s.rollback_window, rollback_confidence=s.rollback_confidence,
                   max_event_skew_ms=s.max_event_skew_ms, max_features=s.max_features,
                   detectors=s.detector_spec)

    def scheduler(self) -> SchedulerConfig:
        return SchedulerConfig(
            retrain_cooldown_ms=self.retrain_cooldown_ms, min_train_examples=self.min_train_examples,
            settle_window=self.settle_window, settle_rise_z=self.settle_rise_z,
            settle_patience=self.settle_patience, still_worse_z=self.still_worse_z,
            ask_again_growth=self.ask_again_growth)


@dataclasses.dataclass
class MonitorOutput:
    labeled: list[Labeled] = dataclasses.field(default_factory=list)
    alerts: list[Alert] = dataclasses.field(default_factory=list)
    retrain: list[RetrainRequest] = dataclasses.field(default_factory=list)
    metrics: list[Metrics] = dataclasses.field(default_factory=list)
    # Events of the batch refused, by their index in it, with the reason.
    rejected: list[tuple[int, str]] = dataclasses.field(default_factory=list)


class ModelMonitor:
    """Everything the monitor knows about one model_id.

    ``profiles`` finds the reference profile a version was registered with,
    so its drift is measured against its training data from the first
    prediction on; without one (or when it finds none) the detectors warm up
    on the version's first predictions.
    """

    def __init__(self, model_id: str, config: MonitorConfig | None = None,
                 profiles: ProfileSource | None = None) -> None:
        self.model_id = model_id
        self.config = c = config or MonitorConfig()
        self.profiles = profiles
        self.version: str | None = None
        self.numeric: list[str] | None = None  # None until the schema is known
        self.categorical: list[str] = []
        self.regression = False  # numeric predictions: the prediction is a numeric column
        self.recent = RecentIds(c.recent_ids)
        self.clock = EventClock(c.max_event_skew_ms)
        self.join = LabelJoin(model_id, ttl_ms=c.label_ttl_ms, max_pending=c.max_pending)
        self.counts = {"predictions": 0, "labeled": 0, "expired": 0, "invalid": 0,
                       "duplicates": 0, "type_errors": 0}
        self._since_metrics = 0
        self.scheduler = RetrainScheduler(model_id, c.scheduler())
        self.promotions = PromotionWatch(c.rollback_window, c.rollback_confidence)
        self.summary: FeatureSummary | None = None
        self._detectors_for(None)

    @property
    def watermark(self) -> int:
        return self.clock.watermark or 0

    def _detectors_for(self, version: str | None) -> None:
        """Fresh detectors for a new serving version; the old reference no longer applies."""
        c = self.config
        self.version = version
        self.suite: DriftSuite | None = None
        self.reference = "warm-up"
        profile = None
        if version not in (None, NO_MODEL) and self.profiles is not None:
            profile = self.profiles(self.model_id, version)
        self.score = dict(profile.performance) if profile is not None else {}
        if profile is not None:
            self._set_schema(profile.numeric, profile.categorical)
            self._build_suite()
            self.suite.set_reference(profile)
            self.reference = profile.source or f"the profile of version {version}"
        elif self.numeric is not None:
            self._build_suite()
        self.policy = AlertPolicy(retrain_on=c.retrain_on)
        self.rolling = RollingAccuracy(c.accuracy_window)
        self.labeled_for_version = 0
        self.scheduler.on_version(version)
        # (kind, feature) -> (alert_id, event_ts, message) of the episode's latest alert
        self._latest_alert: dict[tuple, tuple[str, int, str]] = {}
        # (kind, feature) -> [episode_id, detector, severity] of each open episode's alerts
        self._episodes: dict[tuple, list[str]] = {}

    def _set_schema(self, numeric: list[str], categorical: list[str]) -> None:
        """Feature columns, with the prediction named ``<prediction>`` among them."""
        self.regression = PREDICTION in numeric
        self.numeric = [n for n in numeric if n != PREDICTION]
        self.categorical = [n for n in categorical if n != PREDICTION]

    def _build_suite(self) -> None:
        c = self.config
        assert self.numeric is not None
        numeric = self.numeric + ([PREDICTION] if self.regression else [])
        categorical = self.categorical + ([] if self.regression else [PREDICTION])
        self.suite = DriftSuite(numeric, categorical, false_alarm_rate=c.false_alarm_rate,
                                reference_size=c.reference_size, window=c.window,
                                detectors=c.detectors)
        self.summary = FeatureSummary(self.numeric, self.categorical)

    def _learn_schema(self, preds: Sequence[Prediction]) -> None:
        features = preds[0].features
        names = sorted(features)
        numeric = [n for n in names if _is_num(features[n])]
        categorical = [n for n in names if not _is_num(features[n])]
        # Class labels may arrive as 1.0 from some clients; a fraction means a regression.
        regression = any(isinstance(p.prediction, float) and not p.prediction.is_integer()
                         for p in preds)
        self._set_schema(numeric + ([PREDICTION] if regression else []),
                         categorical + ([] if regression else [PREDICTION]))
        self._build_suite()

    # ------------------------------------------------------------ processing

    def process(self, events: Sequence[Prediction | Feedback], now_ms: int) -> MonitorOutput:
        """Consume one batch of this model's events in arrival order."""
        out = MonitorOutput()
        events = self._admit(events, now_ms, out)
        preds: list[Prediction] = [ev for ev in events if type(ev) is Prediction]
        if self.version is not None and all(p.model_version == self.version for p in preds):
            out.labeled = self.join.add_all(events)
            events = ()
        else:
            preds = []
        for ev in events:
            if isinstance(ev, Prediction):
                if ev.model_version != self.version:
                    self._on_new_version(ev.model_version, preds, ev.ts, out, now_ms)
                    preds = []
                preds.append(ev)
                joined = self.join.add_prediction(ev)
            else:
                joined = self.join.add_feedback(ev)
            if joined is not None:
                out.labeled.append(joined)
        self._observe_predictions(preds, out, now_ms)
        self._observe_labeled(out.labeled, out, now_ms)
        self.counts["expired"] += self.join.expire(self.clock.expiry)
        request = self.scheduler.poll(now_ms, self.watermark, self.labeled_for_version,
                                      self.policy.open_keys)
        if request is not None:
            at = self.clock.wall_time_before(request.since_ts)
            out.retrain.append(request if at is None else
                               msgspec.structs.replace(request, labeled_from_ts=at))
        if self._since_metrics >= self.config.metrics_every:
            self._since_metrics = 0
            out.metrics.append(self._metrics(now_ms))
        return out

    def _admit(self, events: Sequence[Prediction | Feedback], now_ms: int,
               out: MonitorOutput) -> list[Prediction | Feedback]:
        """The events to process: not seen before, with believable times and usable features."""
        if not events:
            return []
        c = self.config
        keep = ~self.recent.seen([("p:" if type(ev) is Prediction else "f:") + ev.event_id
                                  for ev in events])
        self.counts["duplicates"] += int(len(events) - keep.sum())
        index = np.flatnonzero(keep)
        sizes = [len(ev.features) for ev in events if type(ev) is Prediction]
        if sizes and max(sizes) <= c.max_features and not any(
                PREDICTION_COLUMN in ev.features for ev in events if type(ev) is Prediction):
            index = ()  # every prediction's features are usable
        for i in (index if isinstance(index, tuple) else index.tolist()):
            ev = events[i]
            if type(ev) is Prediction:
                why = None
                if len(ev.features) > c.max_features:
                    why = (f"{len(ev.features)} features, over the limit of {c.max_features} "
                           f"(DRIFTLINE_MAX_FEATURES)")
                elif PREDICTION_COLUMN in ev.features:
                    why = f"feature name {PREDICTION_COLUMN!r} is reserved for the model's prediction"
                if why is not None:
                    keep[i] = False
                    out.rejected.append((i, why))
        index = np.flatnonzero(keep)
        ok, reasons = self.clock.admit(np.fromiter((events[i].ts for i in index), dtype=np.int64,
                                                   count=len(index)), now_ms)
        for j, why in reasons.items():
            out.rejected.append((int(index[j]), why))
        if out.rejected:
            out.rejected.sort()
            self.counts["invalid"] += len(out.rejected)
        return [events[i] for i in index[ok].tolist()]

    def count_invalid(self, n: int = 1) -> None:
        self.counts["invalid"] += n

    def _on_new_version(self, version: str, preds_so_far: list[Prediction], ts: int,
                        out: MonitorOutput, now_ms: int) -> None:
        if self.version is not None and preds_so_far:
            # Events of the old version in this batch still belong to its detectors.
            self._observe_predictions(preds_so_far, MonitorOutput(), now_ms=0, quiet=True)
        previous = self.version
        # The old version's drifts end with it: the new one is watched against its own reference.
        for key in list(self._episodes):
            self._resolve(key, ts, now_ms, out, f"version {version} now serves")
        self._detectors_for(version)
        self.promotions.on_version(version, previous, ts, self.score, self.regression)

    def _observe_predictions(self, preds: list[Prediction], out: MonitorOutput, now_ms: int,
                             quiet: bool = False) -> None:
        if not preds:
            return
        if self.suite is None:
            if self.numeric is None:
                self._learn_schema(preds)
            else:
                self._build_suite()
        suite = self.suite
        n = len(preds)
        self.counts["predictions"] += n
        X, C, Q = _columns(preds, suite.numeric, suite.categorical)
        self.counts["type_errors"] += int((Q == WRONG_TYPE).sum())
        features = [j for j, name in enumerate(suite.numeric) if name != PREDICTION]
        self.summary.update_numeric(X[:, features])
        self.summary.update_categorical(
            C[:, [j for j, name in enumerate(suite.categorical) if name != PREDICTION]])
        detections, checked = suite.update_inputs(X, C, Q)
        if not quiet:
            ts = np.fromiter((p.ts for p in preds), dtype=np.int64, count=n)
            self._raise(detections, suite.inputs_seen, checked, ts, out, now_ms)
        self._since_metrics += n

    def _observe_labeled(self, labeled: list[Labeled], out: MonitorOutput, now_ms: int) -> None:
        # Only labels of predictions the current version made say anything about it.
        rows = [e for e in labeled if e.model_version == self.version]
        self.counts["labeled"] += len(labeled)
        self._check_promotion(labeled, out, now_ms)
        if not rows:
            return
        ts = np.fromiter((e.ts for e in rows), dtype=np.int64, count=len(rows))
        self.labeled_for_version += len(rows)
        outcomes = self._outcomes(rows)
        if not self.regression:
            self.rolling.update(outcomes)
        self.scheduler.observe_losses(np.abs(outcomes) if self.regression else 1.0 - outcomes, ts)
        if self.version == NO_MODEL or self.suite is None:
            return  # a fallback answer has no concept to drift from
        predicted = None if self.regression else [e.prediction for e in rows]
        detections, checked = self.suite.update_outcomes(outcomes, predicted)
        self._raise(detections, self.suite.outcomes_seen, checked, ts, out, now_ms)

    def _outcomes(self, rows: list[Labeled]) -> np.ndarray:
        """Residuals of a regressor's answers, or 1 for a right answer and 0 for a wrong one."""
        if self.regression:
            return np.fromiter((_residual(e.prediction, e.label) for e in rows),
                               dtype=np.float64, count=len(rows))
        return np.fromiter((_same(e.prediction, e.label) for e in rows), dtype=np.int8,
                           count=len(rows))

    def _check_promotion(self, labeled: list[Labeled], out: MonitorOutput, now_ms: int) -> None:
        """Feed the promoted version under test (see :mod:`~driftline.consumers.promotions`)."""
        rows = [e for e in labeled if e.model_version == self.promotions.version]
        if not rows:
            return
        ts = np.fromiter((e.ts for e in rows), dtype=np.int64, count=len(rows))
        decided = self.promotions.observe(self.model_id, self._outcomes(rows), ts, now_ms)
        if decided is None:
            return
        out.alerts.append(decided.alert)
        out.retrain.append(decided.request)
        # The rollback answers this episode: no retrain request from the demoted
        # version, nor from the restored one, until the cooldown has passed.
        self.scheduler.rolled_back(self.watermark)

    def _raise(self, detections: list[Detection], n_seen: int, checked: list[tuple],
               ts: np.ndarray, out: MonitorOutput, now_ms: int) -> None:
        if not detections and not checked:
            return
        fresh = self.policy.observe(detections, n_seen, checked)
        for d in fresh:
            key = (d.kind, d.feature)
            event_ts = int(ts[min(max(d.batch_index, 0), len(ts) - 1)])
            episode = self._episodes.setdefault(key, [new_id(), d.detector, d.severity])
            episode[1:] = [d.detector, d.severity]
            alert = Alert(alert_id=new_id(), model_id=self.model_id,
                          model_version=self.version or NO_MODEL, kind=d.kind,
                          severity=d.severity, detector=d.detector, feature=d.feature,
                          value=float(d.value), threshold=float(d.threshold),
                          event_ts=event_ts, ts=now_ms, message=d.message,
                          episode_id=episode[0], status="firing")
            out.alerts.append(alert)
            self._latest_alert[key] = (alert.alert_id, event_ts, alert.message)
        for key in self.policy.closed_keys:
            self._resolve(key, int(ts[-1]) if len(ts) else self.watermark, now_ms, out,
                          "its detectors have been back within their thresholds for "
                          f"{self.policy.recover_windows} checks in a row")
        # The policy decides which episodes ask for retraining (e.g. a performance
        # drop only once confirmed); the request cites the episode's latest alert.
        for key in self.policy.retrain_keys:
            if key in self._latest_alert:
                self.scheduler.episode_asks(key, self._latest_alert[key])

    def _resolve(self, key: tuple, event_ts: int, now_ms: int, out: MonitorOutput, why: str) -> None:
        """The alert that ends the episode of ``key``: same ``episode_id``, status ``resolved``."""
        episode_id, detector, severity = self._episodes.pop(key, None) or [new_id(), "policy", "warning"]
        kind, feature = key
        value = threshold = 0.0
        for name, f, v, t in (self.suite.readings if self.suite is not None else ()):
            if name == detector and f == feature:
                value, threshold = v, t
        what = feature if feature is not None else "the model"
        out.alerts.append(Alert(
            alert_id=new_id(), model_id=self.model_id, model_version=self.version or NO_MODEL,
            kind=kind, severity=severity, detector=detector, feature=feature, value=float(value),
            threshold=float(threshold), event_ts=event_ts, ts=now_ms,
            message=f"{kind.replace('_', ' ')} of {what} resolved: {why}",
            episode_id=episode_id, status="resolved"))

    def answered(self, announced: ModelVersion) -> None:
        """The retrainer's answer to a request, as announced on the model-versions topic.

        See :class:`~driftline.consumers.scheduler.RetrainScheduler` for what a
        request the gate turned down lifts. A promoted version needs nothing
        here (its predictions tell).
        """
        self.scheduler.answered(announced, self.labeled_for_version)

    def _metrics(self, now_ms: int) -> Metrics:
        c = self.counts
        done = c["labeled"] + c["expired"]
        acc = self.rolling.value
        return Metrics(
            model_id=self.model_id, model_version=self.version or NO_MODEL, ts=now_ms,
            event_ts=self.watermark, n_predictions=c["predictions"], n_labeled=c["labeled"],
            n_expired=c["expired"], n_invalid=c["invalid"],
            accuracy=None if acc is None else round(acc, 6),
            label_coverage=round(c["labeled"] / done, 6) if done else None,
            features={} if self.summary is None else self.summary.snapshot(),
            drift=[] if self.suite is None else _drift_readings(self.suite.readings),
        )

    # ------------------------------------------------------------ state

    def state_dict(self, pending: bool = True) -> dict[str, Any]:
        """Plain data to go on from (see :meth:`from_state`); without the labels still
        waiting when ``pending`` is false (the worker stores those apart)."""
        return {
            "model_id": self.model_id, "version": self.version, "numeric": self.numeric,
            "categorical": list(self.categorical), "regression": self.regression,
            "counts": dict(self.counts), "since_metrics": self._since_metrics,
            "labeled_for_version": self.labeled_for_version, "reference": self.reference,
            "score": dict(self.score), "recent": self.recent.state_dict(),
            "clock": self.clock.state_dict(),
            "suite": None if self.suite is None else self.suite.state_dict(),
            "summary": None if self.summary is None else self.summary.state_dict(),
            "policy": self.policy.state_dict(), "rolling": self.rolling.state_dict(),
            "scheduler": self.scheduler.state_dict(), "promotions": self.promotions.state_dict(),
            "latest_alert": [[k, list(v)] for k, v in self._latest_alert.items()],
            "episodes": [[list(k), list(v)] for k, v in self._episodes.items()],
            "pending": list(self.join.pending.items()) if pending else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: MonitorConfig | None = None,
                   profiles: ProfileSource | None = None) -> ModelMonitor:
        """The monitor ``state_dict()`` described, with today's ``config`` for what comes next."""
        m = cls(state["model_id"], config, profiles)
        m.version = state["version"]
        m.numeric = state["numeric"]
        m.categorical = list(state["categorical"])
        m.regression = bool(state["regression"])
        m.counts.update(state["counts"])
        m._since_metrics = int(state["since_metrics"])
        m.labeled_for_version = int(state["labeled_for_version"])
        m.reference, m.score = state["reference"], dict(state["score"])
        m.recent = RecentIds.from_state(state["recent"])
        m.clock = EventClock.from_state(state["clock"])
        m.suite = None if state["suite"] is None else DriftSuite.from_state(state["suite"])
        if state["summary"] is not None and m.numeric is not None:
            m.summary = FeatureSummary(m.numeric, m.categorical)
            m.summary.load_state_dict(state["summary"])
        m.policy.load_state_dict(state["policy"])
        m.rolling.load_state_dict(state["rolling"])
        m.scheduler.load_state_dict(state["scheduler"])
        m.promotions = PromotionWatch.from_state(state["promotions"])
        m._latest_alert = {tuple(k): (str(a), int(t), str(msg)) for k, (a, t, msg) in state["latest_alert"]}
        m._episodes = {tuple(k): [str(x) for x in v] for k, v in state["episodes"]}
        if state.get("pending"):
            m.join.restore(state["pending"])
        return m


def _columns(preds: Sequence[Prediction], numeric: list[str],
             categorical: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The batch as columns: numbers ``X`` (NaN where missing), categories ``C``, quality codes ``Q``."""
    n, d = len(preds), len(numeric)
    feats = [p.features for p in preds]
    fast = _columns_of_clean_batch(preds, feats, numeric, categorical)
    if fast is not None:
        return fast
    X = np.full((n, d), np.nan)
    C = np.empty((n, len(categorical)), dtype=object)
    Q = np.zeros((n, d + len(categorical)), dtype=np.int8)
    for j, name in enumerate(numeric):
        col = [p.prediction for p in preds] if name == PREDICTION else [f.get(name) for f in feats]
        kinds = set(map(type, col))
        if kinds <= {int, float}:
            X[:, j] = col
            continue
        for i, v in enumerate(col):
            if v is None:
                Q[i, j] = MISSING
            elif _is_num(v):
                X[i, j] = v
            else:
                Q[i, j] = WRONG_TYPE
    for j, name in enumerate(categorical):
        col = [p.prediction for p in preds] if name == PREDICTION else [f.get(name) for f in feats]
        kinds = set(map(type, col))
        if kinds == {str}:
            C[:, j] = col
            continue
        for i, v in enumerate(col):
            if v is None:
                Q[i, d + j] = MISSING
            else:
                C[i, j] = str(v)
                if _is_num(v) and name != PREDICTION:
                    Q[i, d + j] = WRONG_TYPE
    return X, C, Q


def _columns_of_clean_batch(preds: Sequence[Prediction], feats: list[dict[str, Any]],
                            numeric: list[str], categorical: list[str]):
    """:func:`_columns` of a batch where every feature is present with its type (the usual
    batch), read row-wise in one pass; None for any other batch."""
    n = len(preds)
    rows = []
    for names, want in ((numeric, (int, float)), (categorical, (str,))):
        plain = [name for name in names if name != PREDICTION]
        if not plain:
            rows.append(None)
            continue
        get = operator.itemgetter(*plain)
        try:
            table = [get(f) for f in feats]
        except KeyError:
            return None
        if len(plain) == 1:
            table = [(v,) for v in table]
        if not set(map(type, itertools.chain.from_iterable(table))).issubset(want):
            return None
        rows.append(table)
    X = np.empty((n, len(numeric)))
    C = np.empty((n, len(categorical)), dtype=object)
    for names, table, out, want in ((numeric, rows[0], X, (int, float)), (categorical, rows[1], C, (str,))):
        plain = [j for j, name in enumerate(names) if name != PREDICTION]
        if table is not None:
            out[:, plain] = table
        if len(plain) < len(names):
            col = [p.prediction for p in preds]
            kinds = set(map(type, col))
            if kinds.issubset(want):
                pass
            elif out is C and type(None) not in kinds:
                col = [v if type(v) is str else str(v) for v in col]  # a class label, as text
            else:
                return None
            out[:, names.index(PREDICTION)] = col
    return X, C, np.zeros((n, len(numeric) + len(categorical)), dtype=np.int8)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _residual(prediction: Any, label: Any) -> float:
    if _is_num(prediction) and _is_num(label):
        return float(prediction) - float(label)
    return float("nan")  # a label that is not a number says nothing about a regressor's error


def _same(prediction: Any, label: Any) -> int:
    if prediction == label:
        return 1
    # A service may send 1 for True or "1" for 1; compare what a person would.
    return int(str(prediction).lower() == str(label).lower())


def _drift_readings(readings: list[tuple[str, str | None, float, float]]) -> list[dict[str, Any]]:
    """The suite's readings as the metrics record carries them; a non-finite one is left out."""
    return [{"detector": name, "feature": feature, "statistic": round(value, 6),
             "threshold": round(threshold, 6)}
            for name, feature, value, threshold in readings
            if math.isfinite(value) and math.isfinite(threshold)]

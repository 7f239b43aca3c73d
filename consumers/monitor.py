"""One model's monitor: joins labels, feeds the detectors, and decides what to publish.

Pure logic: no Kafka, no clock (the caller passes ``now_ms``). The faust agent
in :mod:`driftline.consumers.app` and the in-process benchmarks drive the same
class, so what is measured is what runs.

>>> from driftline.contract import Prediction, Feedback
>>> m = ModelMonitor("fraud", {}, MonitorConfig(metrics_every=2))
>>> out = m.process([Prediction("p1", "fraud", "1", 10, {"x": 1.0}, 1),
...                  Feedback("f1", "p1", "fraud", 20, 1),
...                  Prediction("p2", "fraud", "1", 30, {"x": 2.0}, 0)], now_ms=40)
>>> [e.event_id for e in out.labeled], out.metrics[0].accuracy
(['p1'], 1.0)
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

import numpy as np

from driftline.consumers.join import LabelJoin
from driftline.consumers.promotions import PromotionWatch
from driftline.consumers.settle import Settling
from driftline.contract import (
    Alert, Feedback, Labeled, Metrics, ModelVersion, Prediction, RetrainRequest, new_id,
)
from driftline.detectors import AlertPolicy, Detection
from driftline.detectors.profile import PREDICTION, ReferenceProfile
from driftline.detectors.quality import MISSING, WRONG_TYPE
from driftline.detectors.suite import DriftSuite
from driftline.detectors.summary import FeatureSummary, RollingAccuracy
from driftline.settings import Settings

NO_MODEL = "0"  # the version a service reports while it has no champion yet
# Episodes found on the labeled outcomes: their drift can be watched settling.
_ON_LABELS = ("concept_drift", "performance")
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

    @classmethod
    def from_settings(cls, s: Settings) -> MonitorConfig:
        return cls(reference_size=s.reference_size, false_alarm_rate=s.false_alarm_rate,
                   retrain_on=tuple(s.retrain_on), label_ttl_ms=s.label_ttl_ms,
                   max_pending=s.max_pending, metrics_every=s.metrics_every,
                   retrain_cooldown_ms=s.retrain_cooldown_ms,
                   min_train_examples=s.min_train_examples,
                   rollback_window=s.rollback_window, rollback_confidence=s.rollback_confidence)


@dataclasses.dataclass
class MonitorOutput:
    labeled: list[Labeled] = dataclasses.field(default_factory=list)
    alerts: list[Alert] = dataclasses.field(default_factory=list)
    retrain: list[RetrainRequest] = dataclasses.field(default_factory=list)
    metrics: list[Metrics] = dataclasses.field(default_factory=list)


class _RecentIds:
    """Event ids seen lately, so a redelivered event is not counted twice.

    Kept as 64-bit digests in a ring: the set is part of every state snapshot
    the worker writes, and ids themselves would make it ten times larger.
    """

    def __init__(self, size: int) -> None:
        self._ring = np.zeros(size, dtype=np.uint64)
        self._next = 0
        self._set: set[int] = set()

    def __getstate__(self) -> dict[str, Any]:
        return {"ring": self._ring, "next": self._next}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._ring, self._next = state["ring"], state["next"]
        self._set = set(int(v) for v in self._ring if v)

    def seen(self, event_id: str) -> bool:
        digest = int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(),
                                "little") or 1
        if digest in self._set:
            return True
        slot = self._next % len(self._ring)
        old = int(self._ring[slot])
        if old:
            self._set.discard(old)
        self._ring[slot] = digest
        self._next += 1
        self._set.add(digest)
        return False


class ModelMonitor:
    """Everything the monitor knows about one model_id.

    ``pending`` is the mapping holding not-yet-joined predictions (see
    :class:`LabelJoin`); it is not part of the pickled state, because in the
    worker it is a faust table with its own changelog. ``profiles`` finds the
    reference profile a version was registered with, so its drift is measured
    against its training data from the first prediction on; without one (or
    when it finds none) the detectors warm up on the version's first
    predictions. Neither is pickled: after unpickling, call :meth:`attach`.
    """

    def __init__(self, model_id: str, pending: MutableMapping[str, Any],
                 config: MonitorConfig | None = None, profiles: ProfileSource | None = None) -> None:
        self.model_id = model_id
        self.config = config or MonitorConfig()
        self.version: str | None = None
        self.numeric: list[str] | None = None  # None until the schema is known
        self.categorical: list[str] = []
        self.regression = False  # numeric predictions: the prediction is a numeric column
        self._recent = _RecentIds(self.config.recent_ids)
        self.counts = {"predictions": 0, "labeled": 0, "expired": 0, "invalid": 0,
                       "duplicates": 0, "type_errors": 0}
        self._since_metrics = 0
        self._labeled_for_version = 0
        self._watermark = 0
        self._retrain_at: int | None = None  # event time of the request in flight
        self._retrain_version: str | None = None
        self.promotions = PromotionWatch(self.config.rollback_window, self.config.rollback_confidence)
        self.attach(pending, profiles)
        self._detectors_for(None)

    # ------------------------------------------------------------ state

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("join")
        state.pop("profiles")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "suite" not in state:
            # Written before the detectors became one suite: the version starts afresh.
            state = {**state, "suite": None, "numeric": None, "regression": False,
                     "_reference": "warm-up"}
        self.__dict__.update(state)
        self.__dict__.setdefault("_alert_of", {})
        self.__dict__.setdefault("_asking", [])
        self.__dict__.setdefault("_asked", None)
        self.__dict__.setdefault("_settling", None)  # written before drifts were settled
        self.__dict__.setdefault("_settling_since", None)
        if "promotions" not in self.__dict__:  # written before promotions were watched
            self.promotions = PromotionWatch(0)
            self._score = {}
        self.profiles = None

    def attach(self, pending: MutableMapping[str, Any], profiles: ProfileSource | None = None) -> ModelMonitor:
        self.join = LabelJoin(self.model_id, pending, ttl_ms=self.config.label_ttl_ms,
                              max_pending=self.config.max_pending)
        self.profiles = profiles
        return self

    def _detectors_for(self, version: str | None) -> None:
        """Fresh detectors for a new serving version; the old reference no longer applies."""
        c = self.config
        self.version = version
        self.suite: DriftSuite | None = None
        self._reference = "warm-up"
        profile = None
        if version not in (None, NO_MODEL) and self.profiles is not None:
            profile = self.profiles(self.model_id, version)
        self._score = dict(profile.performance) if profile is not None else {}
        self._settling = _settling(c)
        self._settling_since: int | None = None  # the detection being settled, while it is
        if profile is not None:
            self._set_schema(profile.numeric, profile.categorical)
            self._build_suite()
            self.suite.set_reference(profile)
            self._reference = profile.source or f"the profile of version {version}"
        elif self.numeric is not None:
            self._build_suite()
        self.policy = AlertPolicy(retrain_on=c.retrain_on)
        self.rolling = RollingAccuracy(c.accuracy_window)
        self._labeled_for_version = 0
        # (alert_id, event_ts, message) of alerts that ask for retraining, not yet acted on;
        # alerts about an older version do not.
        self._episode_alerts: list[tuple[str, int, str]] = []
        self._asking: list[tuple] = []  # (kind, feature) of the episodes behind them
        # (kind, feature) -> the latest alert of that episode
        self._alert_of: dict[tuple, tuple[str, int, str]] = {}
        # The last request made for this version's episodes, while unanswered: repeated
        # (with a window grown since) if its episodes stay open, for a retrain the gate
        # rejected on too little evidence must not leave a drifted model in place.
        self._asked: dict[str, Any] | None = None

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
                                reference_size=c.reference_size, window=c.window)
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
        preds: list[Prediction] = []
        for ev in events:
            if self._recent.seen(("p:" if isinstance(ev, Prediction) else "f:") + ev.event_id):
                self.counts["duplicates"] += 1
                continue
            if ev.ts > self._watermark:
                self._watermark = ev.ts
            if isinstance(ev, Prediction):
                if ev.model_version != self.version:
                    self._on_new_version(ev.model_version, preds, ev.ts)
                    preds = []
                preds.append(ev)
                joined = self.join.add_prediction(ev)
            else:
                joined = self.join.add_feedback(ev)
            if joined is not None:
                out.labeled.append(joined)
        self._observe_predictions(preds, out, now_ms)
        self._observe_labeled(out.labeled, out, now_ms)
        self.counts["expired"] += self.join.expire(self._watermark)
        self._maybe_retrain(out, now_ms)
        if self._since_metrics >= self.config.metrics_every:
            self._since_metrics = 0
            out.metrics.append(self._metrics(now_ms))
        return out

    def count_invalid(self, n: int = 1) -> None:
        self.counts["invalid"] += n

    def _on_new_version(self, version: str, preds_so_far: list[Prediction], ts: int) -> None:
        if self.version is not None and preds_so_far:
            # Events of the old version in this batch still belong to its detectors.
            self._observe_predictions(preds_so_far, MonitorOutput(), now_ms=0, quiet=True)
        if self.version is not None and self._retrain_version == self.version:
            self._retrain_at = None  # the request in flight has been answered
            self._retrain_version = None
        previous = self.version
        self._detectors_for(version)
        self.promotions.on_version(version, previous, ts, self._score, self.regression)

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
        d = len(suite.numeric)
        X = np.full((n, d), np.nan)
        C = np.empty((n, len(suite.categorical)), dtype=object)
        Q = np.zeros((n, d + len(suite.categorical)), dtype=np.int8)
        for i, p in enumerate(preds):
            f = p.features
            for j, name in enumerate(suite.numeric):
                v = p.prediction if name == PREDICTION else f.get(name)
                if v is None:
                    Q[i, j] = MISSING
                elif _is_num(v):
                    X[i, j] = v
                else:
                    Q[i, j] = WRONG_TYPE
            for j, name in enumerate(suite.categorical):
                v = p.prediction if name == PREDICTION else f.get(name)
                if v is None:
                    Q[i, d + j] = MISSING
                else:
                    C[i, j] = str(v)
                    if _is_num(v) and name != PREDICTION:
                        Q[i, d + j] = WRONG_TYPE
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
        self._labeled_for_version += len(rows)
        outcomes = self._outcomes(rows)
        if not self.regression:
            self.rolling.update(outcomes)
        if self._settling is not None and self.version != NO_MODEL:
            losses = np.abs(outcomes) if self.regression else 1.0 - outcomes
            self._settling.observe(losses, ts)
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
        self._episode_alerts, self._asking, self._settling_since = [], [], None
        self._retrain_at, self._retrain_version = self._watermark, None

    def _raise(self, detections: list[Detection], n_seen: int, checked: list[tuple],
               ts: np.ndarray, out: MonitorOutput, now_ms: int) -> None:
        if not detections and not checked:
            return
        fresh = self.policy.observe(detections, n_seen, checked)
        for d in fresh:
            event_ts = int(ts[min(max(d.batch_index, 0), len(ts) - 1)])
            alert = Alert(alert_id=new_id(), model_id=self.model_id,
                          model_version=self.version or NO_MODEL, kind=d.kind,
                          severity=d.severity, detector=d.detector, feature=d.feature,
                          value=float(d.value), threshold=float(d.threshold),
                          event_ts=event_ts, ts=now_ms, message=d.message)
            out.alerts.append(alert)
            self._alert_of[(d.kind, d.feature)] = (alert.alert_id, event_ts, alert.message)
        # The policy decides which episodes ask for retraining (e.g. a performance
        # drop only once confirmed); the request cites the episode's latest alert.
        for key in self.policy.retrain_keys:
            if key in self._alert_of:
                self._episode_alerts.append(self._alert_of[key])
                self._asking.append(key)

    def answered(self, announced: ModelVersion) -> None:
        """The retrainer's answer to a request, as announced on the model-versions topic.

        A request the gate turned down holds no new drift back: once the errors
        rose again since the request (``still_worse_z`` standard errors above
        the newest ``settle_window`` losses it was made on), a new episode asks,
        or the request's own episode, still open, asks again from where the
        errors settle anew, without waiting out the cooldown, which is for
        asking the same again. A second detector's episode on the drift
        already asked about, with errors no higher, waits. While the version
        still does worse than before the drift, the request is also asked
        again, cooldown or not, once as many labels have come since the answer
        as its window held (``ask_again_growth``): a gate that could not tell
        on a small holdout is asked on one that has grown.
        A promoted version needs nothing here (its predictions tell).
        """
        asked = self._asked
        if (asked is not None and announced.status == "rejected"
                and announced.model_id == self.model_id
                and announced.request_id == asked.get("request_id")):
            asked["turned_down"] = True
            asked["grown_from"] = [self._labeled_for_version,
                                   int(announced.metrics.get("n_examples") or 0)]
            gate = announced.metrics.get("gate") or {}
            # The challenger scored better than the champion, short of the gate's confidence.
            asked["unclear"] = bool(gate.get("against") == "champion" and (gate.get("gain") or 0) > 0)

    def _maybe_retrain(self, out: MonitorOutput, now_ms: int) -> None:
        c = self.config
        asked, fresh = self._asked, bool(self._episode_alerts)
        repeats = asked["repeats"] if asked and not fresh else 0
        # After a turned-down request, errors that rose again since: see answered().
        lifted = bool(asked is not None and asked.get("turned_down")
                      and asked.get("level") is not None  # kept only where there is settling
                      and self._settling.above(asked["level"], c.still_worse_z))
        # A repeat waits twice as long as the request before it.
        cooling = (self._retrain_at is not None and not lifted
                   and self._watermark - self._retrain_at < c.retrain_cooldown_ms * 2 ** repeats)
        # A window grown since the turn-down lets only that request be asked again: a second
        # episode on the same drift joins it rather than asking from its own start.
        grown = bool(asked is not None and asked.get("turned_down") and self._grown(asked))
        if cooling and not grown:
            return
        if self.version == NO_MODEL and self._labeled_for_version >= c.min_train_examples:
            reason, since, alert_ids = "no champion yet: first version", 0, []
        elif self._episode_alerts and not cooling:
            _, since, reason = self._episode_alerts[0]
            # since: the detection's event time. Training only on data after it keeps
            # the old concept out of the window, at the cost of waiting for new labels.
            alert_ids = [a[0] for a in self._episode_alerts]
            if self._settling is not None and any(k in _ON_LABELS for k, _ in self._asking):
                settled = self._settled(since)
                if settled is None:
                    return  # the drift is still under way
                if settled > since:
                    reason = (f"{reason} (window from event time {settled}, where the errors "
                              f"stopped rising after the detection at {since})")
                since = settled
            self._asked = {"keys": list(self._asking), "since": since, "reason": reason,
                           "alert_ids": alert_ids, "repeats": 0}
        elif asked and self._retrain_at is not None and (why := self._why_ask_again(grown)):
            since, alert_ids = asked["since"], asked["alert_ids"]
            if lifted:
                # The drift moved on since the window that was turned down (asked in the middle
                # of a change that had seemed to settle): the window starts where it settles now.
                settled = self._settled(self._retrain_at)
                if settled is None:
                    return
                since = max(since, settled)
                why = "the errors rose again since it was turned down"
            elif grown:
                labels, rows = asked["grown_from"]
                why = (f"{why}, and {self._labeled_for_version - labels} labels have come since "
                       f"the {rows} it was turned down on")
                alert_ids = asked["alert_ids"] = list(dict.fromkeys(
                    alert_ids + [a[0] for a in self._episode_alerts]))
            asked["repeats"] += 1
            reason = f"{asked['reason']} (asked again: {why} and the last request gave no new version)"
        else:
            return
        self._episode_alerts, self._asking = [], []
        self._settling_since = None
        self._retrain_at = self._watermark
        self._retrain_version = self.version
        request = RetrainRequest(request_id=new_id(), model_id=self.model_id, alert_ids=alert_ids,
                                 since_ts=since, ts=now_ms, reason=reason)
        if self._asked is not None:  # what answered() matches, and the errors it was asked on
            self._asked.update(request_id=request.request_id, turned_down=False,
                               level=None if self._settling is None else self._settling.level())
        out.retrain.append(request)

    def _settled(self, since: int) -> int | None:
        """Where the drift found at event time ``since`` has settled (see Settling.ready); None: not yet."""
        if self._settling_since is None:
            self._settling.start(since)
            self._settling_since = since
        return self._settling.ready()

    def _grown(self, asked: dict) -> bool:
        """Whether the turned-down window has grown ``ask_again_growth`` times (see MonitorConfig)."""
        growth, (labels, rows) = self.config.ask_again_growth, asked.get("grown_from") or (0, 0)
        return bool(growth and rows and self._labeled_for_version - labels >= (growth - 1.0) * rows)

    def _why_ask_again(self, grown: bool = False) -> str | None:
        """Why the last request, which gave no new version, should be repeated; None: it should not.

        Its episodes are still open; or it was about the labels and the serving
        version's newest losses stay above those before the drift (the gate turned
        the retrain down on too few labels, and a window grown since may tell);
        or, its window ``grown``, the challenger turned down had scored better
        than the champion, short of the gate's confidence.
        """
        keys = self._asked["keys"]
        if set(keys) & set(self.policy.open_keys):
            return "the drift goes on"
        if (self._settling is not None and any(k in _ON_LABELS for k, _ in keys)
                and self._settling.worse(self.config.still_worse_z, newest=2 * self._settling.half)):
            return "the version still does worse than before the drift"
        if grown and self._asked.get("unclear"):
            return ("the challenger turned down had scored better than the champion, "
                    "short of the gate's confidence")
        return None

    def _metrics(self, now_ms: int) -> Metrics:
        c = self.counts
        done = c["labeled"] + c["expired"]
        acc = self.rolling.value
        return Metrics(
            model_id=self.model_id, model_version=self.version or NO_MODEL, ts=now_ms,
            event_ts=self._watermark, n_predictions=c["predictions"], n_labeled=c["labeled"],
            n_expired=c["expired"], n_invalid=c["invalid"],
            accuracy=None if acc is None else round(acc, 6),
            label_coverage=round(c["labeled"] / done, 6) if done else None,
            features=self.summary.snapshot(),
        )


def _settling(c: MonitorConfig) -> Settling | None:
    window = c.min_train_examples if c.settle_window is None else c.settle_window
    if not window:
        return None
    half = max(window // 2, 1)
    return Settling(half, c.settle_rise_z, max(c.settle_patience or 5 * window, 2 * half))


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

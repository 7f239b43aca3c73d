"""Roll back, or retrain instead: the retrainer's answer to a rollback request. No Kafka here.

The monitor asks for a rollback when a promoted version scores, live, below
what its gate measured (:mod:`driftline.consumers.promotions`). That has two
causes the monitor cannot tell apart. Either the gate was misled (wrong
labels, a leak, a holdout unlike live traffic), and the previous champion
does better on today's traffic: restoring it is right. Or the traffic moved
on after the promotion (a new drift, the rest of a gradual one), and the
previous champion, trained on still older data, is no better: restoring it
would serve a concept that is gone.

:func:`roll_back` tells them apart on the labeled events the demoted version
served (from its first prediction, the request's ``since_ts``): both
versions answer them, and the gate's paired comparison
(:func:`~driftline.retrainer.evaluation.gate.compare`) says whether the previous one is
better with the gate's confidence. If it is, it is restored. If not, the
version stays and a challenger is trained on those events and gated against
it (:func:`~driftline.retrainer.orchestration.job.retrain`), so the version that broke
its promise is replaced only by a better one. Without events to compare on,
or a previous version that cannot be scored, the monitor's verdict stands
and the previous version is restored.

Examples
--------
>>> from driftline.contract import Labeled, RetrainRequest
>>> from driftline.retrainer.data.frame import labeled_frame
>>> from driftline.retrainer.persistence.registry import Registry
>>> from driftline.settings import Settings
>>> class Threshold:
...     def __init__(self, t): self.t = t
...     def predict_many(self, rows): return [int(r["x"] > self.t) for r in rows]
>>> class Store:  # an ArtifactStore keeps pickles in files; this one keeps the models
...     models = {}
...     def put(self, model_id, version, model):
...         self.models[f"mem://{version}"] = model
...         return f"mem://{version}", "0" * 64
...     def load(self, uri, sha256, model_id=None): return self.models[uri]
...     def remove(self, uri): del self.models[uri]
>>> registry, store = Registry("sqlite://"), Store()
>>> for k, t in [(1, 5), (2, 2)]:  # v1 learned "x > 5", v2 "x > 2"
...     uri, sha = store.put("m", str(k), Threshold(t))
...     _ = registry.register("m", status="champion", parent_version=None, request_id=f"r{k}",
...                           alert_ids=[], window={}, metrics={}, artifact_uri=uri, sha256=sha,
...                           reason="gate", trainer="t", features=["x"])
>>> def served(rule):  # what v2 served from event time 1000 on, labeled by ``rule``
...     return labeled_frame([Labeled(f"e{i}", "m", "2", 1000 + i, 1001 + i, {"x": i % 10}, 0,
...                                   rule(i % 10)) for i in range(600)])
>>> request = RetrainRequest("q1", "m", ["a1"], since_ts=1000, ts=2000, reason="v2 fell short",
...                          action="rollback", model_version="2")

Live traffic labeled as v1 learned: v2 was the mistake, and v1 is restored.

>>> record = roll_back(request, served(lambda x: int(x > 5)), registry, store,
...                    Settings(min_train_examples=100))
>>> record.version, record.status
('1', 'champion')
>>> print(record.status_reason)
rolled back from v2: v2 fell short (v1 scored 1.0000 accuracy on the 600 labeled events v2 served, v2 scored 0.7000: gain 0.3000, lower bound 0.2700, McNemar mid-p 3.3e-55, n=600)

Had the traffic moved on to a third concept (odd x), v1 would be no better:
v2 stays, and a challenger trained on those events is gated against it.

>>> _ = registry.promote("m", "2", "back for the example")
>>> other = RetrainRequest("q2", "m", ["a2"], since_ts=1000, ts=2000, reason="v2 fell short",
...                        action="rollback", model_version="2")
>>> record = roll_back(other, served(lambda x: x % 2), registry, store,
...                    Settings(min_train_examples=100))
>>> record.version, record.status, record.parent_version
('3', 'champion', '2')
>>> for part in record.reason.split("; "):
...     print(part)
retrained instead of rolling back v2: v1 scored 0.5000 accuracy on the 600 labeled events v2 served, v2 scored 0.6000, no better than v2 with 95% confidence (gain -0.1000, lower bound -0.1367, McNemar mid-p 1, n=600)
promoted: the challenger's holdout accuracy 1.0000 beats the champion's 0.6000 with 95% confidence (gain 0.4000, lower bound 0.3444, McNemar mid-p 1.1e-22, n=180)
then fit again on all 600 examples of the window
>>> registry.close()
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

import pandas as pd

from driftline.contract import RetrainRequest
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.evaluation.gate import Comparison, answers, compare
from driftline.retrainer.orchestration.job import retrain
from driftline.retrainer.persistence.registry import Registry, VersionRecord
from driftline.retrainer.learners.trainers import DEFAULT_TRAINER
from driftline.settings import Settings

log = logging.getLogger(__name__)

_NAMES = {"accuracy": "accuracy", "f1": "F1", "log_loss": "log loss", "mae": "MAE", "rmse": "RMSE"}


@dataclasses.dataclass(frozen=True)
class LiveComparison:
    """The previous champion against the demoted version on the events the latter served."""

    previous: str
    current: str
    comparison: Comparison  # the previous version as the challenger

    @property
    def restore(self) -> bool:
        return self.comparison.supported

    @property
    def message(self) -> str:
        c = self.comparison
        head = (f"v{self.previous} scored {c.challenger:.4f} {_NAMES[c.metric]} on the {c.n} labeled "
                f"events v{self.current} served, v{self.current} scored {c.other:.4f}")
        if self.restore:
            return f"{head}: {c.evidence()}"
        return (f"{head}, no better than v{self.current} with {100 * c.confidence:g}% confidence "
                f"({c.evidence()})")

    def figures(self) -> dict[str, Any]:
        return {"previous_version": self.previous, "version": self.current,
                **dataclasses.asdict(self.comparison)}


def previous_champion(registry: Registry, model_id: str, version: str) -> VersionRecord | None:
    """What a rollback of ``version`` restores: the newest earlier champion that kept its artifact."""
    earlier = [v for v in registry.versions(model_id)
               if v.status == "archived" and int(v.version) < int(version) and v.artifact_uri and v.sha256]
    return max(earlier, key=lambda v: int(v.version), default=None)


def compare_live(previous: VersionRecord, current: VersionRecord, examples: pd.DataFrame,
                 store: ArtifactStore, metric: str, confidence: float) -> LiveComparison | None:
    """Both versions on ``examples``, paired; None if there are none or a version cannot answer."""
    if not len(examples):
        return None
    try:
        mine = answers(store.load(previous.artifact_uri, previous.sha256, model_id=previous.model_id),
                       examples, previous.features, metric)
        theirs = answers(store.load(current.artifact_uri, current.sha256, model_id=current.model_id),
                         examples, current.features, metric)
        c = compare(metric, examples["label"].tolist(), mine, theirs, against="champion", margin=0.0,
                    confidence=confidence)
    except Exception:  # any model, any failure: the monitor's verdict stands
        log.warning("v%s and v%s of %s could not be compared on live labels", previous.version,
                    current.version, current.model_id, exc_info=True)
        return None
    return LiveComparison(previous.version, current.version, c)


def roll_back(request: RetrainRequest, examples: pd.DataFrame, registry: Registry, store: ArtifactStore,
              settings: Settings, trainer_spec: str = DEFAULT_TRAINER, window: dict | None = None, *,
              stop: threading.Event | None = None) -> VersionRecord | None:
    """Restore the previous champion if it does better on ``examples``, else retrain on them.

    ``examples`` (a :func:`~driftline.retrainer.data.frame.labeled_frame`) are the
    labeled events since ``request.since_ts``. Returns the restored champion,
    the retrain's version (promoted or rejected), or None if
    ``request.model_version`` is no longer the champion (rolled back already,
    or overtaken). A request handled before returns what it gave then.
    Raises :class:`~driftline.retrainer.exceptions.RegistryError` if there
    is no earlier champion to go back to.
    """
    model_id, version = request.model_id, request.model_version
    retrained = registry.find_by_request(model_id, request.request_id)
    if retrained is not None:
        return retrained
    reason = f"rolled back from v{version}: {request.reason or f'request {request.request_id}'}"
    current, previous = registry.champion(model_id), previous_champion(registry, model_id, version)
    live = None
    if current is not None and current.version == version and previous is not None:
        registration = registry.model(model_id)
        metric = (registration.gate_metric if registration and registration.gate_metric
                  else settings.gate_metric)
        live = compare_live(previous, current, examples, store, metric, settings.gate_confidence)
    if live is None or live.restore:
        if live is not None:
            reason = f"{reason} ({live.message})"
        return registry.rollback(model_id, reason, from_version=version, request_id=request.request_id)
    return retrain(request, examples, registry, store, settings, trainer_spec, window, stop=stop,
                   note=f"retrained instead of rolling back v{version}: {live.message}",
                   figures={"rollback": live.figures()})

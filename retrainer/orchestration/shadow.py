"""Shadow runs: a challenger that passed the gate is scored next to the champion on live traffic first.

With ``DRIFTLINE_SHADOW_EVENTS`` (or a registration's ``shadow_events``) above
0, a challenger the gate would promote is registered with status ``shadow``
instead: not served, not announced. The worker then reads the ``labeled``
topic forward from just after the challenger's training window (event time
above its newest example, so none of these events trained it) until that
many labeled events of the model have arrived, scores champion and
challenger on exactly those events, paired, with the gate's own comparison
(:func:`~driftline.retrainer.evaluation.gate.decide`: the registration's metric, margin,
and ``DRIFTLINE_GATE_CONFIDENCE``), and promotes or rejects it with the
figures recorded in its metrics under ``"shadow"``.

The wait is bounded by ``DRIFTLINE_RETRAIN_WAIT_S``: if fewer labeled
events arrive, the challenger is rejected and its reason says how many came
in how long; the champion stays, and the monitor asks again after its
cooldown if the drift persists. A model with no champion has nothing to
shadow: its first version is promoted on the gate alone.

Examples
--------
>>> from driftline.contract import Labeled
>>> from driftline.retrainer.persistence.registry import Registry
>>> class Threshold:
...     def __init__(self, t): self.t = t
...     def predict_many(self, rows): return [int(r["x"] > self.t) for r in rows]
>>> class Store:  # an ArtifactStore holds pickles; this one holds the models themselves
...     def load(self, uri, sha256, model_id=None): return Threshold(int(uri.split("/")[-1]))
>>> store, registry = Store(), Registry("sqlite://")
>>> def version(request, status, threshold):
...     return registry.register("m", status=status, parent_version=None, request_id=request,
...                              alert_ids=[], window={"until_ts": 99}, metrics={},
...                              artifact_uri=f"mem://{threshold}", sha256="0" * 64, reason="gate",
...                              trainer="t", features=["x"])
>>> champion, shadow = version("q1", "champion", 2), version("q2", "shadow", 5)
>>> events = [Labeled(f"e{i}", "m", "1", 100 + i, 101 + i, {"x": i % 10}, 0, int(i % 10 > 5))
...           for i in range(400)]
>>> outcome = score_shadow(shadow, champion, events, store, wanted=400, metric="accuracy",
...                        margin=0.01, confidence=0.95)
>>> outcome.promote, outcome.figures["challenger"], outcome.figures["champion"]
(True, 1.0, 0.7)
>>> print(outcome.reason)
promoted after its shadow run: on 400 live labeled events its accuracy 1.0000 beats the champion v1's 0.7000 by more than the margin 0.0100 with 95% confidence (gain 0.3000, lower bound 0.2625, McNemar mid-p 3.8e-37, n=400)
>>> print(score_shadow(shadow, champion, events[:40], store, wanted=400, metric="accuracy",
...                    margin=0.01, confidence=0.95, waited_s=300).reason)
rejected after its shadow run: 40 of 400 labeled events arrived within 300 s (DRIFTLINE_RETRAIN_WAIT_S); the champion v1 stays
>>> registry.close()
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from driftline.contract import Labeled
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.data.frame import labeled_frame
from driftline.retrainer.evaluation.gate import answers, decide, margin_phrase
from driftline.retrainer.persistence.records import ModelRecord, VersionRecord
from driftline.retrainer.persistence.registry import Registry
from driftline.retrainer.data.window import read_window
from driftline.settings import Settings

_NAMES = {"accuracy": "accuracy", "f1": "F1", "log_loss": "log loss", "mae": "MAE", "rmse": "RMSE"}


def shadow_events(settings: Settings, registration: ModelRecord | None) -> int:
    """Live labeled events a challenger of this model is shadowed on; 0: none."""
    if registration is not None and registration.shadow_events is not None:
        return registration.shadow_events
    return settings.shadow_events


def gate_rule(settings: Settings, registration: ModelRecord | None) -> tuple[str, float]:
    """The metric and margin the gate applies to this model: its registration's, else the worker's."""
    metric, margin = settings.gate_metric, settings.gate_margin
    if registration is not None:
        metric = registration.gate_metric or metric
        margin = margin if registration.gate_margin is None else registration.gate_margin
    return metric, margin


class ShadowRegistrations:
    """The registry as :func:`~driftline.retrainer.orchestration.job.retrain` sees it when the model is shadowed.

    What the gate promotes is registered as a ``shadow``, so the champion
    stays and nothing is announced; everything else reaches the registry
    unchanged.
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def __getattr__(self, name: str) -> Any:
        return getattr(self._registry, name)

    def register(self, model_id: str, *, status: str, **fields: Any) -> VersionRecord:
        return self._registry.register(model_id, status="shadow" if status == "champion" else status,
                                       **fields)


@dataclasses.dataclass(frozen=True)
class ShadowOutcome:
    promote: bool
    reason: str
    figures: dict[str, Any]


def score_shadow(shadow: VersionRecord, champion: VersionRecord | None, events: list[Labeled],
                 store: ArtifactStore, *, wanted: int, metric: str, margin: float, confidence: float,
                 waited_s: float = 0.0, window: dict | None = None) -> ShadowOutcome:
    """Score ``shadow`` and ``champion`` on the same live ``events`` with the gate's comparison.

    Fewer than ``wanted`` events, or a challenger that cannot be loaded or
    answer, reject it; a champion that cannot be loaded or answer cannot be
    served either, so the challenger is then compared with the trivial
    baseline, as the gate does.
    """
    frame = labeled_frame(events)
    n = len(frame)
    figures: dict[str, Any] = {"n_events": n, "wanted": wanted, "waited_s": round(waited_s, 3),
                               "champion_version": None if champion is None else champion.version,
                               "window": window or {}}
    stays = f"the champion v{champion.version} stays" if champion else "no champion either"
    if n < wanted:
        return ShadowOutcome(False, f"rejected after its shadow run: {n} of {wanted} labeled events "
                                    f"arrived within {waited_s:g} s (DRIFTLINE_RETRAIN_WAIT_S); {stays}",
                             figures)
    y = frame["label"].tolist()
    try:
        challenger = answers(_load(store, shadow), frame, shadow.features, metric)
    except Exception as exc:  # any model, any failure: recorded, never fatal
        return ShadowOutcome(False, f"rejected after its shadow run: it could not answer the live "
                                    f"events ({_describe(exc)}); {stays}", figures)
    other, note = None, ""
    if champion is not None:
        try:
            other = answers(_load(store, champion), frame, champion.features, metric)
        except Exception as exc:
            note = f" (the champion v{champion.version} could not be scored: {_describe(exc)})"
    try:
        decision = decide(metric, y, challenger, other, margin, confidence)
    except (ValueError, TypeError) as exc:  # e.g. an RMSE of string labels
        return ShadowOutcome(False, f"rejected after its shadow run: {metric} cannot be scored on the "
                                    f"live events: {_describe(exc)}; {stays}", figures)
    figures.update(decision.figures())
    c, pct = decision.comparison, f"{100 * confidence:g}%"
    head = (f"{'promoted' if decision.promote else 'rejected'} after its shadow run{note}: on {n} live "
            f"labeled events its {_NAMES[metric]} {c.challenger:.4f}")
    verb = "beats" if decision.promote else "does not beat"
    if c.against == "champion":
        body = (f"{verb} the champion v{champion.version}'s {c.other:.4f}"
                f"{margin_phrase(margin, 'by more than')} with {pct} confidence")
    else:
        body = f"{verb} the trivial baseline {c.other:.4f} with {pct} confidence"
    return ShadowOutcome(decision.promote, f"{head} {body} ({c.evidence()})", figures)


def _load(store: ArtifactStore, record: VersionRecord) -> Any:
    if not record.artifact_uri or not record.sha256:
        raise ValueError(f"v{record.version} has no artifact")
    return store.load(record.artifact_uri, record.sha256, model_id=record.model_id)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def run_shadow(record: VersionRecord, registry: Registry, store: ArtifactStore, settings: Settings, *,
               request_id: str | None = None, stop: threading.Event | None = None,
               read: Callable[..., tuple[list[Labeled], dict]] = read_window,
               clock: Callable[[], float] = time.monotonic) -> VersionRecord:
    """Shadow ``record`` on the labeled events after its training window; promote or reject it.

    ``read`` is :func:`~driftline.retrainer.data.window.read_window` (Kafka); it
    raises :class:`~driftline.retrainer.exceptions.WindowInterrupted` if
    ``stop`` is set while it waits, and nothing is recorded. A version no
    longer in shadow is returned as it is. A rejected challenger's artifact
    is removed.
    """
    record = registry.get(record.model_id, record.version) or record  # concluded meanwhile?
    if record.status != "shadow":
        return record
    registration = registry.model(record.model_id)
    wanted = shadow_events(settings, registration)
    champion = registry.champion(record.model_id)
    if wanted < 1 or champion is None:
        # Shadow runs were turned off, or the champion was removed, after it was registered.
        why = "shadow runs are off for this model now" if wanted < 1 else "there is no champion to shadow"
        outcome = ShadowOutcome(True, f"promoted on the gate alone: {why}", {"n_events": 0})
    else:
        metric, margin = gate_rule(settings, registration)
        since = int(record.window.get("until_ts") or 0) + 1  # after every example it was trained on
        started = clock()
        events, window = read(settings.replace(min_train_examples=wanted, max_train_examples=wanted),
                              record.model_id, since, stop=stop)
        outcome = score_shadow(record, champion, events, store, wanted=wanted, metric=metric,
                               margin=margin, confidence=settings.gate_confidence,
                               waited_s=clock() - started, window=window)
    concluded = registry.conclude_shadow(record.model_id, record.version, promote=outcome.promote,
                                         reason=outcome.reason, figures=outcome.figures,
                                         request_id=request_id)
    if concluded.status == "rejected" and record.artifact_uri:
        store.remove(record.artifact_uri)
    return concluded

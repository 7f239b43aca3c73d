"""One retrain, from a window of labeled examples to a registered version. No Kafka here.

Every outcome is a version in the registry with its reason, a rejection as
much as a promotion, so "why is v7 the champion, and why was v8 not?" always
has an answer. Only champions get an artifact: a rejected challenger is
never served, and its reason and figures say all there is to know about it.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from driftline.contract import Labeled, RetrainRequest
>>> from driftline.settings import Settings
>>> from driftline.retrainer.persistence.artifacts import ArtifactStore
>>> from driftline.retrainer.persistence.registry import Registry
>>> events = [Labeled(f"e{i}", "fraud", "1", i, i, {"amount": float(i % 10)}, 0, i % 10 >= 5)
...           for i in range(300)]
>>> request = RetrainRequest("q1", "fraud", ["a1"], since_ts=0, ts=300)
>>> tmp = tempfile.TemporaryDirectory()
>>> registry, store = Registry("sqlite://"), ArtifactStore(Path(tmp.name), key=b"k" * 32)
>>> record = retrain(request, labeled_frame(events), registry, store,
...                  Settings(min_train_examples=100))
>>> record.version, record.status, record.metrics["holdout_accuracy"]
('1', 'champion', 1.0)
>>> retrain(request, labeled_frame(events), registry, store, Settings()) == record
True
>>> print(retrain(RetrainRequest("q2", "fraud", [], 0, 1), labeled_frame(events[:50]),
...               registry, store, Settings(min_train_examples=100)).reason)
rejected: the window holds 50 labeled examples, at least 100 are needed
>>> registry.close(); tmp.cleanup()
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import pickle
import threading
import time
from typing import Any

import numpy as np
import pandas as pd

from driftline.contract import RetrainRequest
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.exceptions import TrainingFailed, TrainingInterrupted
from driftline.retrainer.data.frame import feature_columns, labeled_frame
from driftline.retrainer.evaluation.gate import (
    CLASSIFICATION_METRICS, METRICS, answers, baseline_accuracy, decide, score, time_ordered_split,
)
from driftline.retrainer.evaluation.reference import build_profile
from driftline.retrainer.persistence.registry import Registry, VersionRecord
from driftline.retrainer.learners.trainers import DEFAULT_TRAINER, load_trainer
from driftline.retrainer.orchestration.training import run_trainer
from driftline.settings import Settings

__all__ = ["retrain", "labeled_frame"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class _Outcome:
    status: str
    reason: str
    metrics: dict[str, Any]
    model: object | None = None  # what is stored and served
    gated: object | None = None  # what the gate measured, if the served model was fit again


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def default_window(request: RetrainRequest, examples: pd.DataFrame) -> dict[str, Any]:
    """The window record when the caller did not read the examples from Kafka."""
    return {
        "topic": None,
        "since_ts": request.since_ts,
        "first_ts": int(examples["ts"].min()) if len(examples) else None,
        "until_ts": int(examples["ts"].max()) if len(examples) else None,
        "n_examples": len(examples),
        "offsets": {},
    }


def _evaluate(examples: pd.DataFrame, features: list[str], champion: VersionRecord | None,
              store: ArtifactStore, settings: Settings, trainer: Any, trainer_spec: str) -> _Outcome:
    n = len(examples)
    metrics: dict[str, Any] = {
        "holdout_accuracy": None, "champion_holdout_accuracy": None, "baseline_accuracy": None,
        "n_examples": n, "n_train": 0, "n_holdout": 0, "margin": settings.gate_margin,
        "gate": None,
    }
    metric = settings.gate_metric
    if metric not in METRICS:  # a registration may name any metric
        return _Outcome("rejected", f"rejected: the gate metric {metric!r} is not one of "
                                    f"{', '.join(METRICS)}", metrics)
    if n < settings.min_train_examples:
        return _Outcome("rejected", f"rejected: the window holds {n} labeled examples, "
                                    f"at least {settings.min_train_examples} are needed", metrics)
    if not features:
        return _Outcome("rejected", "rejected: the examples carry no features", metrics)
    train, holdout = time_ordered_split(examples, settings.holdout_fraction)
    metrics.update(n_train=len(train), n_holdout=len(holdout))
    classes = train["label"].unique().tolist()
    if len(classes) < 2:
        return _Outcome("rejected", f"rejected: every training label is {classes[0]!r}, "
                                    f"so there is nothing to learn", metrics)
    started = time.perf_counter()
    try:
        model = trainer(train, features, label="label")
    except TrainingInterrupted:
        raise  # the worker is stopping: the request is not done, so nothing is recorded
    except TrainingFailed as exc:  # raised, died, timed out: recorded, never fatal
        log.warning("%s", exc)
        return _Outcome("rejected", f"rejected: {exc}", metrics)
    except Exception as exc:  # any trainer, any failure: recorded, never fatal
        log.warning("trainer %s failed", trainer_spec, exc_info=True)
        return _Outcome("rejected", f"rejected: the trainer {trainer_spec} raised {_describe(exc)}", metrics)
    metrics.update(train_seconds=round(time.perf_counter() - started, 3), n_fit=len(train))
    y = holdout["label"].tolist()
    try:
        challenger = answers(model, holdout, features, metric)
    except Exception as exc:
        return _Outcome("rejected", f"rejected: the challenger failed to predict the holdout: "
                                    f"{_describe(exc)}", metrics)
    classification = metric in CLASSIFICATION_METRICS
    if classification:  # accuracy is reported whatever the gate metric, as services read it
        metrics.update(holdout_accuracy=score("accuracy", y, challenger),
                       baseline_accuracy=baseline_accuracy(holdout))
    else:  # the monitor tests a regressor's live errors against these
        errors = np.abs(np.asarray(challenger.labels, dtype=np.float64) - np.asarray(y, dtype=np.float64))
        metrics.update(holdout_mae=float(errors.mean()), holdout_abs_error_std=float(errors.std()))

    champion_answers, note = None, ""
    if champion is not None:
        try:
            if not champion.artifact_uri or not champion.sha256:
                raise ValueError("it has no artifact")
            champion_model = store.load(champion.artifact_uri, champion.sha256,
                                        model_id=champion.model_id)
            champion_answers = answers(champion_model, holdout, champion.features, metric)
        except Exception as exc:
            # A champion that cannot be loaded cannot be served either, so it
            # is no reason to keep a challenger out; the baseline still counts.
            note = f"the champion v{champion.version} could not be scored ({_describe(exc)}); "
    if champion_answers is not None and classification:
        metrics["champion_holdout_accuracy"] = score("accuracy", y, champion_answers)
    try:
        decision = decide(metric, y, challenger, champion_answers, settings.gate_margin,
                          settings.gate_confidence)
    except (ValueError, TypeError) as exc:  # e.g. an RMSE of string labels
        return _Outcome("rejected", f"rejected: the gate cannot score {metric} here: "
                                    f"{_describe(exc)}", metrics)
    metrics["gate"] = decision.figures()
    if not decision.promote:
        return _Outcome("rejected", note + decision.reason, metrics)
    outcome = _Outcome("champion", note + decision.reason, metrics, model)
    if settings.refit:
        _refit(outcome, examples, features, trainer, trainer_spec)
    return outcome


def _refit(outcome: _Outcome, examples: pd.DataFrame, features: list[str], trainer: Any,
           trainer_spec: str) -> None:
    """Fit the promoted challenger's trainer again on the whole window, holdout included.

    The gate measured a fit on the older rows; the version then serves
    having learned from every label of its window too. Its recorded holdout
    figures stay those of the fit the gate measured. A refit that fails
    leaves that fit to be served, and says so.
    """
    started = time.perf_counter()
    try:
        model = trainer(examples, features, label="label")
    except TrainingInterrupted:
        raise
    except Exception as exc:  # TrainingFailed or anything else: the gated fit is still good
        log.warning("refit with %s failed, serving the fit the gate measured: %s", trainer_spec, exc)
        outcome.reason += (f"; served as gated: fitting it again on all {len(examples)} examples "
                           f"failed ({_describe(exc)})")
        return
    outcome.metrics.update(refit_seconds=round(time.perf_counter() - started, 3), n_fit=len(examples))
    outcome.reason += f"; then fit again on all {len(examples)} examples of the window"
    outcome.model, outcome.gated = model, outcome.model


def _reference_profile(request: RetrainRequest, examples: pd.DataFrame, features: list[str],
                       outcome: _Outcome, settings: Settings) -> dict | None:
    """What the monitor will watch the new version against, calibrated for its settings."""
    train, holdout = time_ordered_split(examples, settings.holdout_fraction)
    m = outcome.metrics
    if m.get("holdout_mae") is not None:
        score = {"metric": "mae", "value": m["holdout_mae"], "std": m["holdout_abs_error_std"],
                 "n": m.get("n_holdout")}
    else:
        score = {"metric": "accuracy", "value": m.get("holdout_accuracy"), "n": m.get("n_holdout")}
    try:
        # The answers of the fit the gate measured: the served one has seen the holdout.
        profile = build_profile(train, holdout, features, outcome.gated or outcome.model, score,
                                reference_size=settings.reference_size,
                                false_alarm_rate=settings.false_alarm_rate,
                                detectors=settings.detector_spec,
                                source=f"the training window of request {request.request_id}")
    except Exception:
        # The version is still worth serving; the monitor then warms up on live traffic.
        log.warning("no reference profile for %s: building it failed", request.model_id,
                    exc_info=True)
        return None
    return profile.to_dict()


def _next_version(registry: Registry, model_id: str) -> str:
    versions = registry.versions(model_id)
    return str(int(versions[-1].version) + 1) if versions else "1"


def retrain(
    request: RetrainRequest, examples: pd.DataFrame, registry: Registry, store: ArtifactStore,
    settings: Settings, trainer_spec: str = DEFAULT_TRAINER, window: dict | None = None, *,
    trainer_params: dict | None = None, reference: dict | None = None,
    stop: threading.Event | None = None, note: str | None = None, figures: dict | None = None,
) -> VersionRecord:
    """Train a challenger on ``examples``, gate it against the champion, register the outcome.

    ``examples`` is a frame from :func:`labeled_frame`. A request is handled
    once: if it is registered already, its record is returned and nothing is
    trained. The model's registration, if it has one, names the trainer, its
    parameters and the gate metric and margin; ``trainer_spec`` and ``trainer_params``
    are the fallback. The trainer runs in a child process
    (:func:`~driftline.retrainer.orchestration.training.run_trainer`) under
    ``settings.train_timeout_s``. Too few examples, a single class, or a
    trainer that raises, dies or runs too long give a ``rejected`` version
    whose reason says so; a trainer spec that cannot be imported raises
    :class:`~driftline.retrainer.exceptions.TrainerLoadError`, and ``stop``
    set during training raises
    :class:`~driftline.retrainer.exceptions.TrainingInterrupted`; neither
    records anything. A champion is registered with its reference profile
    (:func:`~driftline.retrainer.evaluation.reference.build_profile`), unless
    ``reference`` gives one, which is stored untouched. ``note`` heads the
    version's reason and ``figures`` join its metrics: why this retrain was
    made, when the request alone does not say it (see
    :mod:`~driftline.retrainer.orchestration.rollback`).
    """
    existing = registry.find_by_request(request.model_id, request.request_id)
    if existing is not None:
        return existing
    registration = registry.model(request.model_id)
    if registration is not None:
        if registration.trainer:
            trainer_spec, trainer_params = registration.trainer, registration.trainer_params
        elif registration.trainer_params:
            trainer_params = registration.trainer_params
        if registration.gate_margin is not None:
            settings = settings.replace(gate_margin=registration.gate_margin)
        if registration.gate_metric is not None:
            settings = settings.replace(gate_metric=registration.gate_metric)
    trainer_params = dict(trainer_params or {})
    if window is not None and "first_ts" not in window:
        # The reader knows where it started; the oldest example's event time completes the range.
        window = {**window, "first_ts": default_window(request, examples)["first_ts"]}
    load_trainer(trainer_spec)  # a wrong spec is a setup error: raised, not recorded
    trainer = functools.partial(run_trainer, trainer_spec, params=trainer_params,
                                timeout_s=settings.train_timeout_s, stop=stop)
    champion = registry.champion(request.model_id)
    features = feature_columns(examples)
    outcome = _evaluate(examples, features, champion, store, settings, trainer, trainer_spec)
    if figures:
        outcome.metrics.update(figures)
    if note:
        outcome.reason = f"{note}; {outcome.reason}"
    if outcome.model is not None and reference is None:
        reference = _reference_profile(request, examples, features, outcome, settings)

    uri = sha = None
    if outcome.model is not None:
        try:
            # The number is a forecast: a concurrent writer may take it, and the
            # registry then files this version under the next one. The file
            # name carries the content hash, so nothing is overwritten either way.
            uri, sha = store.put(request.model_id, _next_version(registry, request.model_id), outcome.model)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            outcome = _Outcome("rejected", f"rejected: the challenger cannot be pickled "
                                           f"({_describe(exc)}); {outcome.reason}", outcome.metrics)
    record = registry.register(
        request.model_id, status=outcome.status,
        parent_version=champion.version if champion else None,
        request_id=request.request_id, alert_ids=list(request.alert_ids),
        window=window if window is not None else default_window(request, examples),
        metrics=outcome.metrics, artifact_uri=uri, sha256=sha, reason=outcome.reason,
        trainer=trainer_spec, features=features, trainer_params=trainer_params,
        reference=reference,
    )
    if uri is not None and record.artifact_uri != uri:
        store.remove(uri)  # another worker registered this request first
    log.info("model %s v%s %s: %s", record.model_id, record.version, record.status, record.reason)
    return record

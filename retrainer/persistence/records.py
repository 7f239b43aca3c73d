"""What the registry returns: plain frozen records, detached from the database.

>>> from driftline.retrainer.persistence.registry import Registry
>>> with Registry("sqlite://") as registry:
...     record = registry.register_model("fraud", gate_margin=0.02)
>>> record.model_id, record.task, record.trainer, record.gate_margin
('fraud', 'classification', None, 0.02)
"""

from __future__ import annotations

import dataclasses

from driftline.contract import ModelVersion
from driftline.retrainer.persistence.schema import ExternalRow, ModelRow, RunRow, VersionRow


@dataclasses.dataclass(frozen=True)
class VersionRecord:
    """One registered version, detached from the database."""

    model_id: str
    version: str
    # "champion" | "rejected" | "archived" (a former champion) | "demoted" (rolled back)
    # | "shadow" (passed the gate, scored on live traffic before promotion)
    status: str
    parent_version: str | None
    request_id: str | None
    alert_ids: list[str]
    window: dict
    metrics: dict
    artifact_uri: str | None
    sha256: str | None
    reason: str
    trainer: str
    features: list[str]
    created_at: int  # epoch ms
    trainer_params: dict = dataclasses.field(default_factory=dict)
    reference: dict | None = None
    status_reason: str | None = None
    status_changed_at: int | None = None

    @classmethod
    def _of(cls, row: VersionRow) -> VersionRecord:
        return cls(
            model_id=row.model_id, version=str(row.version_num), status=row.status,
            parent_version=row.parent_version, request_id=row.request_id,
            alert_ids=list(row.alert_ids), window=dict(row.window), metrics=dict(row.metrics),
            artifact_uri=row.artifact_uri, sha256=row.sha256, reason=row.reason,
            trainer=row.trainer, features=list(row.features), created_at=row.created_at,
            trainer_params=dict(row.trainer_params or {}), reference=row.reference,
            status_reason=row.status_reason, status_changed_at=row.status_changed_at,
        )

    def announcement(self, ts: int, reason: str | None = None) -> ModelVersion:
        """This version as published on ``model-versions``.

        The reason is why it has its status now: ``reason``, else why the
        status last changed (promoted or restored by hand or by a rollback,
        rejected after a shadow run), else why it was registered.
        """
        return ModelVersion(
            model_id=self.model_id, version=self.version, status=self.status,
            parent_version=self.parent_version, request_id=self.request_id,
            artifact_uri=self.artifact_uri, sha256=self.sha256, metrics=self.metrics, ts=ts,
            reason=reason or self.status_reason or self.reason,
        )


@dataclasses.dataclass(frozen=True)
class ModelRecord:
    """A model's registration: how it is retrained and gated."""

    model_id: str
    task: str
    trainer: str | None  # None: the worker's default trainer
    trainer_params: dict
    gate_metric: str | None  # None: the worker's DRIFTLINE_GATE_METRIC
    gate_margin: float | None  # None: the worker's DRIFTLINE_GATE_MARGIN
    created_at: int
    updated_at: int
    shadow_events: int | None = None  # None: the worker's DRIFTLINE_SHADOW_EVENTS; 0: none

    @classmethod
    def _of(cls, row: ModelRow) -> ModelRecord:
        return cls(model_id=row.model_id, task=row.task, trainer=row.trainer,
                   trainer_params=dict(row.trainer_params), gate_metric=row.gate_metric,
                   gate_margin=row.gate_margin, created_at=row.created_at,
                   updated_at=row.updated_at, shadow_events=row.shadow_events)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One retrain request as a worker handled it."""

    model_id: str
    request_id: str
    alert_ids: list[str]
    state: str  # "started" | "finished" | "failed"
    worker_id: str
    attempts: int
    started_at: int
    finished_at: int | None
    outcome: str | None
    version: str | None

    @classmethod
    def _of(cls, row: RunRow) -> RunRecord:
        return cls(model_id=row.model_id, request_id=row.request_id, alert_ids=list(row.alert_ids),
                   state=row.state, worker_id=row.worker_id, attempts=row.attempts,
                   started_at=row.started_at, finished_at=row.finished_at, outcome=row.outcome,
                   version=row.version)


@dataclasses.dataclass(frozen=True)
class ExternalVersion:
    """A version services reported that driftline did not make: recorded, never reused as a name."""

    model_id: str
    version: str
    first_seen_at: int
    last_seen_at: int
    n_labeled: int
    request_id: str | None

    @classmethod
    def _of(cls, row: ExternalRow) -> ExternalVersion:
        return cls(model_id=row.model_id, version=row.version, first_seen_at=row.first_seen_at,
                   last_seen_at=row.last_seen_at, n_labeled=row.n_labeled, request_id=row.request_id)

"""The registry's tables, as SQLAlchemy 2 models.

Three tables, each keyed by ``model_id``:

- ``driftline_models``: one row per registered model: its task, trainer and
  the gate settings that apply to it;
- ``driftline_model_versions``: one row per version, with everything that
  explains it (lineage: parent, request, alerts, window, trainer, figures);
- ``driftline_retrain_runs``: one row per retrain request handled, whatever
  came of it;
- ``driftline_external_versions``: one row per version a service reported on
  its predictions that driftline did not make (the model the service brought
  along), so that driftline's own versions never take its name.

The schema evolves only through the migrations in
``retrainer/persistence/migrations``; a test checks that they produce exactly
these tables.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TASKS = ("classification", "regression")
STATUSES = ("champion", "rejected", "archived", "demoted", "shadow")
RUN_STATES = ("started", "finished", "failed")
DEFAULT_TASK = "classification"


class Base(DeclarativeBase):
    pass


class ModelRow(Base):
    __tablename__ = "driftline_models"

    model_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    task: Mapped[str] = mapped_column(String(32))
    # NULL: the worker's default trainer.
    trainer: Mapped[str | None] = mapped_column(String(255))
    trainer_params: Mapped[dict] = mapped_column(JSON)
    # NULL: the worker's DRIFTLINE_GATE_METRIC.
    gate_metric: Mapped[str | None] = mapped_column(String(64))
    # NULL: the worker's DRIFTLINE_GATE_MARGIN.
    gate_margin: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    # Added in revision 0003. NULL: the worker's DRIFTLINE_SHADOW_EVENTS; 0: no shadow run.
    shadow_events: Mapped[int | None] = mapped_column(Integer)


class VersionRow(Base):
    __tablename__ = "driftline_model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version_num", name="uq_driftline_version"),
        # NULL request_ids (manual registrations) never collide, in SQLite and PostgreSQL alike.
        UniqueConstraint("model_id", "request_id", name="uq_driftline_request"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(String(255), index=True)
    version_num: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    parent_version: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(255))
    alert_ids: Mapped[list] = mapped_column(JSON)
    window: Mapped[dict] = mapped_column(JSON)
    metrics: Mapped[dict] = mapped_column(JSON)
    artifact_uri: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    trainer: Mapped[str] = mapped_column(String(255))
    features: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Added in revision 0002; NULL in rows written before it.
    trainer_params: Mapped[dict | None] = mapped_column(JSON)
    # The monitor's reference profile for this version; produced elsewhere, stored as given.
    reference: Mapped[dict | None] = mapped_column(JSON)
    # Why the status last changed after registration (archived, promoted or rolled back).
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[int | None] = mapped_column(BigInteger)


# At most one champion per model, even if two writers promote at once.
Index(
    "uq_driftline_one_champion", VersionRow.model_id, unique=True,
    sqlite_where=VersionRow.status == "champion",
    postgresql_where=VersionRow.status == "champion",
)


class RunRow(Base):
    __tablename__ = "driftline_retrain_runs"
    __table_args__ = (
        # A request is one run, however often it is delivered or retried.
        UniqueConstraint("model_id", "request_id", name="uq_driftline_run_request"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(String(255), index=True)
    request_id: Mapped[str] = mapped_column(String(255))
    alert_ids: Mapped[list] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    worker_id: Mapped[str] = mapped_column(String(255))
    # How many times a worker started on it: more than one means a crash or a retry.
    attempts: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)
    # The version's reason when finished, the error when failed.
    outcome: Mapped[str | None] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(String(32))


class ExternalRow(Base):
    """A version services reported (``model_version`` on their events) that the registry never made."""

    __tablename__ = "driftline_external_versions"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_driftline_external_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[str] = mapped_column(String(255))
    first_seen_at: Mapped[int] = mapped_column(BigInteger)  # epoch ms, when a retrain first read it
    last_seen_at: Mapped[int] = mapped_column(BigInteger)
    # Labeled events of this version in the windows that reported it, summed.
    n_labeled: Mapped[int] = mapped_column(Integer)
    # The retrain request whose window first held it.
    request_id: Mapped[str | None] = mapped_column(String(255))

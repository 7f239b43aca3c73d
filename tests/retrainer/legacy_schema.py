"""The registry's schema as driftline created it before migrations (``create_all``), frozen.

The upgrade test builds a database with exactly this and checks that opening
it with today's :class:`~driftline.retrainer.persistence.registry.Registry` keeps its versions.
Do not change it: it stands for databases that exist in the field.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class LegacyBase(DeclarativeBase):
    pass


class LegacyVersionRow(LegacyBase):
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


# At most one champion per model, even if two writers promote at once.
Index(
    "uq_driftline_one_champion", LegacyVersionRow.model_id, unique=True,
    sqlite_where=LegacyVersionRow.status == "champion",
    postgresql_where=LegacyVersionRow.status == "champion",
)

"""The model registry: every version of every model, and why it exists.

One row per version. Each row records its parent (the champion it was measured
against), the retrain request and alerts behind it, the data window it was
trained on, its holdout figures and the gate's reason. SQLite by default,
any SQLAlchemy URL (PostgreSQL in production).

Examples
--------
>>> registry = Registry("sqlite://")
>>> common = dict(parent_version=None, alert_ids=["a1"], window={}, metrics={},
...               artifact_uri=None, sha256=None, reason="r", trainer="t", features=["x"])
>>> v1 = registry.register("fraud", status="champion", request_id="q1", **common)
>>> v2 = registry.register("fraud", status="champion", request_id="q2", **common)
>>> [(v.version, v.status) for v in registry.versions("fraud")]
[('1', 'archived'), ('2', 'champion')]
>>> registry.register("fraud", status="rejected", request_id="q2", **common).version
'2'
>>> registry.champion("fraud").request_id
'q2'
>>> registry.close()
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

from driftline.retrainer.exceptions import RegistryError

STATUSES = ("champion", "rejected", "archived")
# What register() accepts; "archived" is only ever reached by being replaced.
REGISTER_STATUSES = ("champion", "rejected")
# A lost race for a version number is retried; more than a handful means something else is wrong.
_MAX_ATTEMPTS = 8


class _Base(DeclarativeBase):
    pass


class _VersionRow(_Base):
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
    "uq_driftline_one_champion", _VersionRow.model_id, unique=True,
    sqlite_where=_VersionRow.status == "champion",
    postgresql_where=_VersionRow.status == "champion",
)


@dataclasses.dataclass(frozen=True)
class VersionRecord:
    """One registered version, detached from the database."""

    model_id: str
    version: str
    # "champion" | "rejected" | "archived" (a former champion) | "demoted" (rolled back)
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

    @classmethod
    def _of(cls, row: _VersionRow) -> VersionRecord:
        return cls(
            model_id=row.model_id, version=str(row.version_num), status=row.status,
            parent_version=row.parent_version, request_id=row.request_id,
            alert_ids=list(row.alert_ids), window=dict(row.window), metrics=dict(row.metrics),
            artifact_uri=row.artifact_uri, sha256=row.sha256, reason=row.reason,
            trainer=row.trainer, features=list(row.features), created_at=row.created_at,
        )


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    if database in ("", ":memory:"):
        # One shared connection, or every thread would see its own empty database.
        engine = create_engine(url, poolclass=StaticPool,
                               connect_args={"check_same_thread": False})
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

    # pysqlite starts transactions lazily, so two writers could both read the
    # same max(version) before either writes. BEGIN IMMEDIATE takes the write
    # lock up front and makes "read max, insert" one atomic step.
    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Registry:
    """Model versions in a SQL database (tables are created on first use).

    Parameters
    ----------
    url
        Any SQLAlchemy URL. For a SQLite file, its parent directories are created.
    """

    def __init__(self, url: str):
        self.url = url
        self._engine = _engine(url)
        _Base.metadata.create_all(self._engine)
        self._session = sessionmaker(self._engine, expire_on_commit=False)

    # ------------------------------------------------------------ reading

    def models(self) -> list[str]:
        with self._session() as s:
            return list(s.scalars(select(_VersionRow.model_id).distinct().order_by(_VersionRow.model_id)))

    def versions(self, model_id: str) -> list[VersionRecord]:
        """All versions of ``model_id``, oldest first."""
        return self._many(select(_VersionRow).where(_VersionRow.model_id == model_id)
                          .order_by(_VersionRow.version_num))

    def get(self, model_id: str, version: str) -> VersionRecord | None:
        try:
            num = int(version)
        except (TypeError, ValueError):
            return None
        return self._one(select(_VersionRow).where(_VersionRow.model_id == model_id,
                                                   _VersionRow.version_num == num))

    def champion(self, model_id: str) -> VersionRecord | None:
        return self._one(select(_VersionRow).where(_VersionRow.model_id == model_id,
                                                   _VersionRow.status == "champion"))

    def find_by_request(self, model_id: str, request_id: str) -> VersionRecord | None:
        return self._one(select(_VersionRow).where(_VersionRow.model_id == model_id,
                                                   _VersionRow.request_id == request_id))

    def _one(self, query: Any) -> VersionRecord | None:
        with self._session() as s:
            row = s.scalars(query).first()
            return None if row is None else VersionRecord._of(row)

    def _many(self, query: Any) -> list[VersionRecord]:
        with self._session() as s:
            return [VersionRecord._of(row) for row in s.scalars(query)]

    # ------------------------------------------------------------ writing

    def register(
        self, model_id: str, *, status: str, parent_version: str | None,
        request_id: str | None, alert_ids: list[str], window: dict, metrics: dict,
        artifact_uri: str | None, sha256: str | None, reason: str, trainer: str,
        features: list[str],
    ) -> VersionRecord:
        """Store a new version under the next number and return it.

        A champion archives the previous champion in the same transaction. If
        ``request_id`` is already registered for ``model_id``, nothing is
        written and the existing record is returned: a request yields one
        version, however many workers handle it.
        """
        if status not in REGISTER_STATUSES:
            raise RegistryError(f"status must be one of {REGISTER_STATUSES}, got {status!r}")
        fields = dict(
            model_id=model_id, status=status, parent_version=parent_version,
            request_id=request_id, alert_ids=list(alert_ids), window=dict(window),
            metrics=dict(metrics), artifact_uri=artifact_uri, sha256=sha256, reason=reason,
            trainer=trainer, features=list(features),
        )
        for _ in range(_MAX_ATTEMPTS):
            if request_id is not None:
                existing = self.find_by_request(model_id, request_id)
                if existing is not None:
                    return existing
            try:
                return self._insert(fields)
            except IntegrityError:
                # Another writer took this version number or this request
                # first; look again (the loop returns its record if it was ours).
                continue
        raise RegistryError(f"could not allocate a version for {model_id!r} "
                            f"after {_MAX_ATTEMPTS} attempts")

    def _insert(self, fields: dict[str, Any]) -> VersionRecord:
        with self._session() as s, s.begin():
            model_id = fields["model_id"]
            last = s.scalar(select(func.max(_VersionRow.version_num))
                            .where(_VersionRow.model_id == model_id))
            if fields["status"] == "champion":
                s.execute(update(_VersionRow)
                          .where(_VersionRow.model_id == model_id, _VersionRow.status == "champion")
                          .values(status="archived"))
            row = _VersionRow(version_num=(last or 0) + 1,
                              created_at=time.time_ns() // 1_000_000, **fields)
            s.add(row)
            s.flush()
            return VersionRecord._of(row)

    def promote(self, model_id: str, version: str) -> VersionRecord:
        """Make ``version`` the champion by hand; the current champion is archived."""
        target = self.get(model_id, version)
        if target is None:
            raise RegistryError(f"no version {version!r} of model {model_id!r}")
        if target.artifact_uri is None or target.sha256 is None:
            raise RegistryError(f"version {version} of {model_id!r} has no artifact "
                                f"(it was {target.status}: {target.reason})")
        return self._make_champion(model_id, int(version), demote_to="archived")

    def rollback(self, model_id: str) -> VersionRecord:
        """Demote the champion and restore the newest earlier version that was champion."""
        current = self.champion(model_id)
        if current is None:
            raise RegistryError(f"model {model_id!r} has no champion to roll back")
        earlier = [v for v in self.versions(model_id)
                   if v.status == "archived" and int(v.version) < int(current.version)
                   and v.artifact_uri and v.sha256]
        if not earlier:
            raise RegistryError(f"model {model_id!r} has no earlier champion to go back to")
        return self._make_champion(model_id, int(earlier[-1].version), demote_to="demoted")

    def _make_champion(self, model_id: str, num: int, demote_to: str) -> VersionRecord:
        with self._session() as s, s.begin():
            s.execute(update(_VersionRow)
                      .where(_VersionRow.model_id == model_id, _VersionRow.status == "champion",
                             _VersionRow.version_num != num)
                      .values(status=demote_to))
            s.execute(update(_VersionRow)
                      .where(_VersionRow.model_id == model_id, _VersionRow.version_num == num)
                      .values(status="champion"))
        return self.get(model_id, str(num))

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({make_url(self.url).render_as_string(hide_password=True)!r})"

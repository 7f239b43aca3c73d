"""The registry's read side: what a service or the monitor needs, without the retrainer's writes.

:class:`RegistryReader` opens the database (migrating it to the newest
schema, :mod:`~driftline.retrainer.persistence.migrate`) and answers
questions: the champion of a model, a version, its lineage, the retrain runs.
:class:`~driftline.retrainer.persistence.registry.Registry` adds the writes
the retrainer and the CLI make. A service loading a champion imports this
module and :mod:`~driftline.retrainer.persistence.artifact_reader`, nothing
of the retrainer's training or writing.

Examples
--------
>>> reader = RegistryReader("sqlite://")
>>> reader.champion("fraud") is None, reader.models()
(True, [])
>>> reader.close()
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

from driftline.retrainer.exceptions import RegistryError
from driftline.retrainer.persistence import migrate
from driftline.retrainer.persistence.records import ExternalVersion, ModelRecord, RunRecord, VersionRecord
from driftline.retrainer.persistence.schema import ExternalRow, ModelRow, RunRow, VersionRow

__all__ = ["RegistryReader", "VersionRecord", "ModelRecord", "RunRecord", "ExternalVersion"]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


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




class RegistryReader:
    """Models, versions and retrain runs in a SQL database, read; migrated to the newest schema on open.

    Parameters
    ----------
    url
        Any SQLAlchemy URL. For a SQLite file, its parent directories are created.
    """

    def __init__(self, url: str):
        self.url = url
        self._engine = _engine(url)
        try:
            migrate.upgrade(self._engine)
        except OperationalError as exc:
            self._engine.dispose()
            why = (str(exc.orig).strip() or type(exc.orig).__name__).splitlines()[0]
            raise RegistryError(f"cannot open the registry at {self._safe_url()}: {why}") from exc
        except BaseException:
            self._engine.dispose()
            raise
        self._session = sessionmaker(self._engine, expire_on_commit=False)

    def models(self) -> list[str]:
        """Every model the registry knows: registered, versioned, or with a retrain run."""
        with self._session() as s:
            ids = set(s.scalars(select(ModelRow.model_id)))
            ids.update(s.scalars(select(VersionRow.model_id).distinct()))
            ids.update(s.scalars(select(RunRow.model_id).distinct()))
            ids.update(s.scalars(select(ExternalRow.model_id).distinct()))
        return sorted(ids)

    def model(self, model_id: str) -> ModelRecord | None:
        """The registration of ``model_id``, if it has one."""
        with self._session() as s:
            row = s.get(ModelRow, model_id)
            return None if row is None else ModelRecord._of(row)

    def versions(self, model_id: str) -> list[VersionRecord]:
        """All versions of ``model_id``, oldest first."""
        return self._many(select(VersionRow).where(VersionRow.model_id == model_id)
                          .order_by(VersionRow.version_num))

    def get(self, model_id: str, version: str) -> VersionRecord | None:
        try:
            num = int(version)
        except (TypeError, ValueError):
            return None
        return self._one(select(VersionRow).where(VersionRow.model_id == model_id,
                                                  VersionRow.version_num == num))

    def champion(self, model_id: str) -> VersionRecord | None:
        return self._one(select(VersionRow).where(VersionRow.model_id == model_id,
                                                  VersionRow.status == "champion"))

    def find_by_request(self, model_id: str, request_id: str) -> VersionRecord | None:
        return self._one(select(VersionRow).where(VersionRow.model_id == model_id,
                                                  VersionRow.request_id == request_id))

    def lineage(self, model_id: str, version: str) -> list[VersionRecord]:
        """``version`` and its ancestors through ``parent_version``, newest first."""
        chain: list[VersionRecord] = []
        seen: set[str] = set()
        record = self.get(model_id, version)
        while record is not None and record.version not in seen:
            chain.append(record)
            seen.add(record.version)
            record = self.get(model_id, record.parent_version) if record.parent_version else None
        return chain

    def external_versions(self, model_id: str) -> list[ExternalVersion]:
        """Versions of ``model_id`` that services reported and driftline did not make, first seen first."""
        with self._session() as s:
            return [ExternalVersion._of(row) for row in s.scalars(
                select(ExternalRow).where(ExternalRow.model_id == model_id).order_by(ExternalRow.id))]

    def artifact_uris(self) -> set[str]:
        """Every artifact URI a version points to, of any model and status."""
        with self._session() as s:
            return set(s.scalars(select(VersionRow.artifact_uri)
                                 .where(VersionRow.artifact_uri.is_not(None))))

    def _one(self, query: Any) -> VersionRecord | None:
        with self._session() as s:
            row = s.scalars(query).first()
            return None if row is None else VersionRecord._of(row)

    def _many(self, query: Any) -> list[VersionRecord]:
        with self._session() as s:
            return [VersionRecord._of(row) for row in s.scalars(query)]

    def run(self, model_id: str, request_id: str) -> RunRecord | None:
        with self._session() as s:
            row = s.scalars(select(RunRow).where(RunRow.model_id == model_id,
                                                 RunRow.request_id == request_id)).first()
            return None if row is None else RunRecord._of(row)

    def runs(self, model_id: str) -> list[RunRecord]:
        """The retrain runs of ``model_id``, oldest first."""
        with self._session() as s:
            return [RunRecord._of(row) for row in s.scalars(
                select(RunRow).where(RunRow.model_id == model_id).order_by(RunRow.id))]

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Registry({self._safe_url()!r})"

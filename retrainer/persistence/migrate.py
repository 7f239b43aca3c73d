"""Bring a registry database to the newest schema with alembic, safely from many processes.

:class:`~driftline.retrainer.persistence.registry.Registry` calls :func:`upgrade` when it
opens a database. Three cases:

- an empty database gets every migration;
- a database that an older driftline made with ``create_all`` (it has the
  versions table but no alembic table) is stamped with revision ``0001``,
  the schema of that code, and upgraded from there: its versions are kept;
- a database at an older revision is upgraded; one at the head is left alone;
- a database at a revision this driftline does not know (a newer release
  migrated it, e.g. during a rolling upgrade) is used as it is, with a
  warning: migrations only add, so older code still finds what it needs.

Two processes may open one database at the same moment (a worker starts
while the CLI reads). The upgrade runs in one transaction that first takes a
lock: ``pg_advisory_xact_lock`` on PostgreSQL, SQLite's write lock (the
registry's engine begins every transaction with ``BEGIN IMMEDIATE``)
elsewhere. The second process waits, then finds the database at the head.
Both databases have transactional DDL, so a crash mid-upgrade leaves the old
schema, not half of the new one.

Examples
--------
>>> from sqlalchemy import create_engine, inspect
>>> engine = create_engine("sqlite://")
>>> upgrade(engine)
>>> current_revision(engine) == head_revision()
True
>>> sorted(t for t in inspect(engine).get_table_names() if t.startswith("driftline_"))  # doctest: +NORMALIZE_WHITESPACE
['driftline_alembic_version', 'driftline_external_versions', 'driftline_model_versions',
 'driftline_models', 'driftline_retrain_runs']
>>> engine.dispose()
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

# Not alembic's default name, so a user's own alembic history in the same database is untouched.
VERSION_TABLE = "driftline_alembic_version"
# The schema that registries created before migrations existed.
LEGACY_REVISION = "0001"
_LEGACY_TABLE = "driftline_model_versions"
# Any fixed 64-bit number; it only has to be the same in every driftline process.
_PG_LOCK_KEY = 0x64726966746C696E  # "driftlin"
_SCRIPTS = Path(__file__).resolve().parent / "migrations"

log = logging.getLogger(__name__)


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this driftline ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _revision_of(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; ``None`` for an empty or pre-migration database."""
    with engine.connect() as connection:
        return _revision_of(connection)


def upgrade(engine: Engine) -> None:
    """Migrate the database behind ``engine`` to the head revision (see the module notes)."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return  # the common case, without taking any lock
    if current is not None and not _known(current):
        log.warning("the registry database is at revision %s, which this driftline does not know "
                    "(its newest is %s); using it as it is", current, head)
        return
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        config = _config(connection)
        tables = set(inspect(connection).get_table_names())
        if VERSION_TABLE not in tables and _LEGACY_TABLE in tables:
            command.stamp(config, LEGACY_REVISION)
        # Under the lock: if another process got here first, this finds the head and does nothing.
        command.upgrade(config, "head")

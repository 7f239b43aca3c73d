"""Alembic's environment for the registry: runs on the connection the registry passes in.

:func:`driftline.retrainer.persistence.migrate.upgrade` opens the transaction and takes the
lock; this only points alembic at it. Imported on its own (e.g. by a doctest
collector) it does nothing.
"""

from alembic import context

from driftline.retrainer.persistence.schema import Base

VERSION_TABLE = "driftline_alembic_version"


def run() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=Base.metadata,
                      version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


if hasattr(context, "config"):  # only inside an alembic command
    run()

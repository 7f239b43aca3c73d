"""Persistence: the registry (SQLAlchemy, migrated with alembic) and the artifact store."""

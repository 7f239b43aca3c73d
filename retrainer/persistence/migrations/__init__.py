"""Alembic migrations of the registry schema; :mod:`driftline.retrainer.persistence.migrate` runs them."""

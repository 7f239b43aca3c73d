"""Alembic migrations of the registry schema; :mod:`driftline.retrainer.migrate` runs them."""

"""The registry under its first import path, kept for code that imports it from here.

The registry lives in :mod:`driftline.retrainer.persistence.registry`.
"""

from driftline.retrainer.persistence.registry import (  # noqa: F401
    STATUSES,
    TASKS,
    ModelRecord,
    Registry,
    RegistryReader,
    RunRecord,
    VersionRecord,
)

__all__ = ["Registry", "RegistryReader", "VersionRecord", "ModelRecord", "RunRecord", "STATUSES", "TASKS"]

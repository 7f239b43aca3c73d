"""The artifact store under its first import path, kept for code that imports it from here.

The store lives in :mod:`driftline.retrainer.persistence.artifacts`.
"""

from driftline.retrainer.persistence.artifact_reader import ArtifactReader  # noqa: F401
from driftline.retrainer.persistence.artifacts import ArtifactStore  # noqa: F401

__all__ = ["ArtifactReader", "ArtifactStore"]

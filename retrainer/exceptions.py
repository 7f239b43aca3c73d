"""Errors the retrainer raises on purpose; all are :class:`~driftline.exceptions.DriftlineError`."""

from driftline.exceptions import DriftlineError


class RetrainerError(DriftlineError):
    """Base of the retrainer's errors."""


class ArtifactIntegrityError(RetrainerError):
    """An artifact is missing, unreadable, or its bytes no longer match the recorded sha256."""


class ArtifactSignatureError(ArtifactIntegrityError):
    """An artifact is not signed, or not with this process's artifact key, or was changed since."""


class ArtifactKeyError(RetrainerError):
    """The artifact key cannot be had: unset where it must be, unreadable, or too short."""


class ExternalModelError(RetrainerError):
    """A fitted model given to ``driftline models register --from`` cannot be read or used."""


class TrainerLoadError(RetrainerError, ImportError):
    """A trainer spec (``"package.module:function"``) does not name an importable callable."""


class RegistryError(RetrainerError, ValueError):
    """A registry call with arguments the registry cannot store (e.g. an unknown status)."""


class WindowInterrupted(RetrainerError):
    """The worker was stopped while waiting for enough labeled examples; the request is not done."""


class TrainingFailed(RetrainerError):
    """A trainer raised, returned no usable model, died, or ran past its time limit; the message says which."""


class TrainingTimeout(TrainingFailed):
    """A trainer ran past ``DRIFTLINE_TRAIN_TIMEOUT_S`` and was stopped."""


class TrainingInterrupted(RetrainerError):
    """The worker was stopped while a trainer ran; the trainer was ended and the request is not done."""

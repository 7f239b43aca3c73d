"""Online drift detectors: pure, deterministic, no I/O.

Every detector takes batches with ``update(batch)`` and reports what the
batch revealed in ``detections``; :class:`AlertPolicy` turns those into one
alert per drift episode.

The parts: ``features/`` watches what a model is given (each feature's
distribution, the features together, their quality); ``predictions/`` what
it gives back and how it fares against labels; at the top, the detector
interface (``base``), the suite that runs them over one false-alarm budget,
the alert policy, the reference profile and the rollback check.
"""

from driftline.detectors.predictions.accuracy import AccuracyDrop
from driftline.detectors.base import Detection, Detector, Key
from driftline.detectors.features.chi2 import CategoricalDrift
from driftline.detectors.predictions.class_error import ClassErrorDrift
from driftline.detectors.features.cusum import MeanShift
from driftline.detectors.predictions.error_increase import ErrorIncrease
from driftline.detectors.predictions.error_rate import ErrorRateDrift
from driftline.detectors.features.ks import NumericDrift
from driftline.detectors.features.mmd import MultivariateDrift
from driftline.detectors.policy import AlertPolicy
from driftline.detectors.predictions.prior_shift import PriorShift
from driftline.detectors.features.quality import DataQuality
from driftline.detectors.predictions.residual_shift import ResidualShift
from driftline.detectors.predictions.river_binary import DDMDrift, EDDMDrift, FHDDMDrift, HDDMADrift, HDDMWDrift

# Every detector class by name: what a saved state names is looked up here, never imported.
DETECTORS: dict[str, type[Detector]] = {cls.__name__: cls for cls in (
    AccuracyDrop, CategoricalDrift, ClassErrorDrift, DataQuality, DDMDrift, EDDMDrift, ErrorIncrease,
    ErrorRateDrift, FHDDMDrift, HDDMADrift, HDDMWDrift, MeanShift, MultivariateDrift, NumericDrift,
    PriorShift, ResidualShift)}

__all__ = [
    "AccuracyDrop",
    "AlertPolicy",
    "CategoricalDrift",
    "ClassErrorDrift",
    "DDMDrift",
    "DETECTORS",
    "DataQuality",
    "Detection",
    "Detector",
    "EDDMDrift",
    "ErrorIncrease",
    "ErrorRateDrift",
    "FHDDMDrift",
    "HDDMADrift",
    "HDDMWDrift",
    "Key",
    "MeanShift",
    "MultivariateDrift",
    "NumericDrift",
    "PriorShift",
    "ResidualShift",
]

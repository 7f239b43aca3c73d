"""Online drift detectors: pure, deterministic, no I/O.

Every detector takes batches with ``update(batch)`` and reports what the
batch revealed in ``detections``; :class:`AlertPolicy` turns those into one
alert per drift episode.
"""

from driftline.detectors.accuracy import AccuracyDrop
from driftline.detectors.base import Detection, Detector, Key
from driftline.detectors.chi2 import CategoricalDrift
from driftline.detectors.class_error import ClassErrorDrift
from driftline.detectors.cusum import MeanShift
from driftline.detectors.error_increase import ErrorIncrease
from driftline.detectors.error_rate import ErrorRateDrift
from driftline.detectors.ks import NumericDrift
from driftline.detectors.mmd import MultivariateDrift
from driftline.detectors.policy import AlertPolicy
from driftline.detectors.prior_shift import PriorShift
from driftline.detectors.quality import DataQuality
from driftline.detectors.residual_shift import ResidualShift
from driftline.detectors.river_binary import DDMDrift, EDDMDrift, FHDDMDrift, HDDMADrift, HDDMWDrift

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

"""One small, fast case per detector class for the contract test.

Each case builds a detector with small windows and a seeded stream of
batches of uneven sizes, with missing values, and a change in its second half
that the detector finds. A detector exported from ``driftline.detectors``
without a case here fails the contract test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.detectors import (
    AccuracyDrop, CategoricalDrift, ClassErrorDrift, DataQuality, DDMDrift, Detector, EDDMDrift,
    ErrorIncrease, ErrorRateDrift, FHDDMDrift, HDDMADrift, HDDMWDrift, MeanShift, MultivariateDrift,
    NumericDrift, PriorShift, ResidualShift,
)
from driftline.detectors.predictions.class_error import error_pairs


def feed(det, data, batch: int = 500) -> list[tuple[int, Any]]:
    """Feed ``data`` in batches; return ``(row index, detection)`` for every detection."""
    found = []
    for start in range(0, len(data), batch):
        det.update(data[start:start + batch])
        found += [(start + d.batch_index, d) for d in det.detections]
    return found


@dataclass(frozen=True)
class Case:
    make: Callable[[], Detector]
    stream: Callable[[int], list[Any]]  # seed -> batches

    def batches(self, seed: int = 0) -> list[Any]:
        return self.stream(seed)


def _split(data: np.ndarray, rng: np.random.Generator, largest: int = 150) -> list[np.ndarray]:
    cuts, at = [], 0
    while at < len(data):
        at += int(rng.integers(1, largest))
        cuts.append(min(at, len(data)))
    return [data[a:b] for a, b in zip([0, *cuts[:-1]], cuts)]


def _numeric(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3000, 3))
    X[1500:, 1] += 1.0
    X[rng.random(X.shape) < 0.05] = np.nan
    return _split(X, rng)


def _joint(seed: int) -> list[np.ndarray]:
    # Features 0 and 1 keep their marginals; their correlation flips sign.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3000, 3))
    rho = np.r_[np.full(1500, 0.9), np.full(1500, -0.9)]
    X[:, 1] = rho * X[:, 0] + np.sqrt(1.0 - rho ** 2) * X[:, 1]
    X[rng.random(X.shape) < 0.05] = np.nan
    return _split(X, rng)


def _categorical(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    cats = np.array(["a", "b", "c", "d", None], dtype=object)
    before = rng.choice(5, p=[0.4, 0.3, 0.2, 0.05, 0.05], size=(1500, 3))
    after = rng.choice(5, p=[0.4, 0.3, 0.2, 0.05, 0.05], size=(1500, 3))
    after[:, 2] = rng.choice(5, p=[0.1, 0.3, 0.5, 0.05, 0.05], size=1500)
    return _split(cats[np.r_[before, after]], rng)


def _binary(seed: int, before: float, after: float) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.r_[rng.random(3000) < before, rng.random(3000) < after].astype(float)
    x[rng.random(len(x)) < 0.05] = np.nan
    return _split(x, rng, largest=400)


def _class_errors(seed: int) -> list[np.ndarray]:
    # Errors of class "b"'s predictions rise; class "a"'s and the unknown outcomes stay.
    rng = np.random.default_rng(seed)
    classes = rng.choice(np.array(["a", "b"], dtype=object), size=6000)
    rate = np.where(classes == "b", np.r_[np.full(3000, 0.1), np.full(3000, 0.5)], 0.1)
    errors = (rng.random(6000) < rate).astype(float)
    errors[rng.random(6000) < 0.05] = np.nan
    return _split(error_pairs(errors, classes), rng, largest=400)


def _residuals(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    r = np.r_[rng.normal(size=1500), 2.0 * rng.normal(size=1500)]
    r[rng.random(len(r)) < 0.05] = np.nan
    return _split(r, rng, largest=400)


def _labels(seed: int) -> list[np.ndarray]:
    # Column 1's class shares move; column 0's stay.
    rng = np.random.default_rng(seed)
    labels = np.array(["a", "b", "c", None], dtype=object)
    codes = rng.choice(4, p=[0.5, 0.3, 0.15, 0.05], size=(3000, 2))
    codes[1500:, 1] = rng.choice(4, p=[0.3, 0.5, 0.15, 0.05], size=1500)
    return _split(labels[codes], rng)


def _quality(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = rng.choice(6, p=[0.95, 0.01, 0.01, 0.01, 0.01, 0.01], size=(3000, 3)).astype(np.int8)
    codes[1500:, 1] = np.where(rng.random(1500) < 0.3, 2, 0)
    return _split(codes, rng)


CASES: dict[type, Case] = {
    DataQuality: Case(
        lambda: DataQuality(["a", "b", "c"], window=100, max_rate=0.08,
                            max_rates={"non_finite": 0.05}, false_alarm_rate=1e-4),
        _quality),
    NumericDrift: Case(
        lambda: NumericDrift(["a", "b", "c"], reference_size=200, window=100,
                             false_alarm_rate=1e-4, seed=3),
        _numeric),
    MeanShift: Case(
        lambda: MeanShift(["a", "b", "c"], reference_size=200, false_alarm_rate=1e-4, seed=3),
        _numeric),
    MultivariateDrift: Case(
        lambda: MultivariateDrift(["a", "b", "c"], reference_size=300, window=150, n_components=50,
                                  false_alarm_rate=1e-4, n_resamples=200, seed=3),
        _joint),
    CategoricalDrift: Case(
        lambda: CategoricalDrift(["a", "b", "c"], reference_size=300, window=150,
                                 false_alarm_rate=1e-4),
        _categorical),
    ErrorRateDrift: Case(
        lambda: ErrorRateDrift(delta=0.002, min_samples=30),
        lambda seed: _binary(seed, 0.2, 0.6)),
    ClassErrorDrift: Case(
        lambda: ClassErrorDrift(delta=0.002, min_samples=30),
        _class_errors),
    # river's detectors with their calibrated defaults; EDDM only finds a large jump.
    DDMDrift: Case(DDMDrift, lambda seed: _binary(seed, 0.2, 0.6)),
    EDDMDrift: Case(EDDMDrift, lambda seed: _binary(seed, 0.1, 0.7)),
    HDDMADrift: Case(HDDMADrift, lambda seed: _binary(seed, 0.2, 0.6)),
    HDDMWDrift: Case(HDDMWDrift, lambda seed: _binary(seed, 0.2, 0.6)),
    FHDDMDrift: Case(FHDDMDrift, lambda seed: _binary(seed, 0.2, 0.6)),
    ErrorIncrease: Case(
        lambda: ErrorIncrease(window=100, false_alarm_rate=1e-4),
        _residuals),
    PriorShift: Case(
        lambda: PriorShift(["x", "y"], reference_size=300, false_alarm_rate=1e-4),
        _labels),
    ResidualShift: Case(
        lambda: ResidualShift(reference_size=200, false_alarm_rate=1e-4, seed=3),
        _residuals),
    AccuracyDrop: Case(
        lambda: AccuracyDrop(window=100, confidence=0.9999),
        lambda seed: _binary(seed, 0.9, 0.5)),
}

"""Every contender behind one small adapter: build a runner for a stream, feed it chunks.

A runner's ``feed(chunk)`` takes a :class:`~.streams.Blocks` of consecutive
rows and returns the row positions, within the chunk, of every detection it
made (one per feature and per test, so a detector firing on two features at
once counts twice). Adding a contender is one entry in :func:`contenders`.

driftline's detectors run at their defaults. river's run at their defaults
too; the univariate ones (ADWIN, PageHinkley, KSWIN) run one instance per
column, and a detection from any of them counts. river's DDM, EDDM, HDDM_A,
HDDM_W and FHDDM take 0/1 input only, so they watch error streams only;
FHDDM fires when the mean drops, so it is fed ``1 - error``. On a
regressor's residuals river's univariate detectors watch their absolute
value, the size of the errors. river's
``update()`` returns nothing since 0.21: the adapters read ``drift_detected``.

>>> import numpy as np
>>> from benchmarks.drift_bench.streams import BLOCKS, Blocks
>>> c = by_name()["river ADWIN"]
>>> data = Blocks(errors=np.r_[np.zeros(2000), np.ones(200)])
>>> runner = c.build(data, "errors", 0)
>>> runner.feed(data.rows(0, 2000)), [2000 + i for i in runner.feed(data.rows(2000, 2200))]
([], [2015])
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from river import drift
from river.drift import binary

import driftline.detectors as dl
from driftline.detectors.predictions.class_error import error_pairs
from benchmarks.drift_bench import suite
from benchmarks.drift_bench.streams import BLOCKS, Blocks

PREDICTION = "<prediction>"  # the monitor's name for the prediction column
SUITE = "driftline (monitor suite)"


class Runner(Protocol):
    def feed(self, chunk: Blocks) -> list[int]: ...


@dataclasses.dataclass(frozen=True)
class Contender:
    name: str
    source: str  # "driftline" or "river"
    watches: frozenset[str]  # the stream targets it applies to
    build: Callable[[Blocks, str, int], Runner]  # (stream data, target, seed) -> runner
    univariate: bool = False  # also scored on TCPD's change-point series
    slow: bool = False  # too slow for every seed; see Config.slow_seeds

    def applies(self, target: str) -> bool:
        return target in self.watches


# ---------------------------------------------------------------- inputs


def _column(kind: str) -> Callable[[Blocks], np.ndarray]:
    """What a detector watching ``kind`` is fed from a chunk."""
    if kind == "numeric":
        return lambda b: b.numeric
    if kind == "categorical":
        return lambda b: b.categorical
    if kind == "prediction":
        return lambda b: b.prediction[:, None]
    if kind == "errors":
        return lambda b: b.errors
    if kind == "correct":
        return lambda b: 1.0 - b.errors
    if kind == "class_errors":
        return _class_errors
    if kind == "residuals":
        return lambda b: b.residuals
    raise ValueError(f"unknown input {kind!r}")


def _class_errors(b: Blocks) -> np.ndarray:
    """(error, predicted class) pairs; a stream without predictions has one class."""
    return error_pairs(b.errors, "?" if b.prediction is None else b.prediction)


def _numbers(b: Blocks, target: str) -> np.ndarray:
    """The target block as float columns, for river's univariate detectors."""
    if target == "numeric":
        return b.numeric
    if target == "errors":
        return b.errors[:, None]
    if target == "prediction":  # class labels "0"/"1"
        return b.prediction.astype(np.float64)[:, None]
    if target == "residuals":  # the size of a regressor's errors
        return np.abs(b.residuals)[:, None]
    raise ValueError(f"river's detectors take numbers, not {target!r}")


# ---------------------------------------------------------------- runners


class DriftlineRunner:
    """One driftline detector, fed its input from each chunk."""

    def __init__(self, detector: dl.Detector, take: Callable[[Blocks], Any]) -> None:
        self.detector = detector
        self.take = take

    def feed(self, chunk: Blocks) -> list[int]:
        if len(chunk) == 0:
            return []
        self.detector.update(self.take(chunk))
        return [d.batch_index for d in self.detector.detections]


class RiverRunner:
    """One river detector per column of the target block."""

    def __init__(self, make: Callable[[int], Any], n_columns: int, target: str, seed: int,
                 flip: bool = False) -> None:
        self.detectors = [make(seed + j) for j in range(n_columns)]
        self.target = target
        self.flip = flip

    def feed(self, chunk: Blocks) -> list[int]:
        if len(chunk) == 0:
            return []
        X = _numbers(chunk, self.target)
        if self.flip:
            X = 1.0 - X
        found = []
        for j, det in enumerate(self.detectors):
            for i, x in enumerate(X[:, j].tolist()):
                det.update(x)
                if det.drift_detected:
                    found.append(i)
        return found


# ---------------------------------------------------------------- driftline


def available() -> dict[str, type]:
    """The detector classes ``driftline.detectors`` exports, by name."""
    return {name: getattr(dl, name) for name in getattr(dl, "__all__", dir(dl))
            if inspect.isclass(getattr(dl, name, None)) and issubclass(getattr(dl, name), dl.Detector)
            and not inspect.isabstract(getattr(dl, name))}


def make(cls: type, features: list[str] | None) -> dl.Detector:
    """``cls`` at its defaults: only the features are given, if it takes any."""
    return cls(features) if features is not None else cls()


def _inputs(data: Blocks, watches: str) -> tuple[list[str] | None, Callable[[Blocks], Any]]:
    """Feature names and input of a detector watching ``watches`` on ``data``."""
    if watches == "numeric":
        return list(data.numeric_names), _column("numeric")
    if watches == "categorical":
        return list(data.categorical_names), _column("categorical")
    if watches == "prediction":
        return [PREDICTION], _column("prediction")
    if watches in ("errors", "correct", "class_errors", "residuals"):
        return None, _column(watches)
    raise ValueError(f"unknown input {watches!r}")


def _alone(cls: type, watches_by_target: dict[str, str]) -> Callable[[Blocks, str, int], Runner]:
    def build(data: Blocks, target: str, seed: int) -> Runner:
        names, take = _inputs(data, watches_by_target[target])
        return DriftlineRunner(make(cls, names), take)
    return build


class SuiteRunner:
    """The monitor's suite (see :mod:`.suite`), fed every block the stream has.

    A stream with residuals is a regressor's: its prediction is a numeric
    column and its residuals are the outcomes; otherwise the prediction is a
    class label and the outcomes are whether it was right.
    """

    def __init__(self, data: Blocks) -> None:
        self.has = {k: data.has(k) for k in BLOCKS}
        self.regression = data.regression
        self.suite = suite.build(list(data.numeric_names) if self.has["numeric"] else [],
                                 list(data.categorical_names) if self.has["categorical"] else [],
                                 with_prediction=self.has["prediction"], regression=self.regression)
        self.hits: dict[str, int] = {name: 0 for name in suite.shares()}

    def feed(self, chunk: Blocks) -> list[int]:
        n = len(chunk)
        if n == 0:
            return []
        nums = [chunk.numeric] if self.has["numeric"] else []
        cats = [chunk.categorical] if self.has["categorical"] else []
        if self.has["prediction"]:
            (nums if self.regression else cats).append(chunk.prediction[:, None])
        X = np.column_stack(nums).astype(np.float64) if nums else None
        C = np.column_stack(cats) if cats else None
        found = []
        if X is not None or C is not None:
            Q = suite.quality_codes(X, C, n)
            found += self.suite.update_inputs(np.empty((n, 0)) if X is None else X,
                                              np.empty((n, 0), dtype=object) if C is None else C, Q)[0]
        if self.regression:
            found += self.suite.update_outcomes(chunk.residuals)[0]
        elif self.has["errors"]:
            predicted = chunk.prediction if self.has["prediction"] else None
            found += self.suite.update_outcomes(1.0 - chunk.errors, predicted)[0]
        for d in found:
            name = suite.member(d)
            self.hits[name] = self.hits.get(name, 0) + 1
        return [d.batch_index for d in found]


def build_suite(data: Blocks, target: str, seed: int) -> SuiteRunner:
    return SuiteRunner(data)


# Standalone driftline contenders: class name -> {stream target: what it is fed}.
# Classes not (yet) in driftline.detectors are left out of the run.
DRIFTLINE = {
    "NumericDrift": {"numeric": "numeric"},
    "MeanShift": {"numeric": "numeric"},
    "MultivariateDrift": {"numeric": "numeric"},
    "CategoricalDrift": {"categorical": "categorical", "prediction": "prediction"},
    "ErrorRateDrift": {"errors": "errors"},
    "ClassErrorDrift": {"errors": "class_errors"},
    "AccuracyDrop": {"errors": "correct"},
    "ErrorIncrease": {"residuals": "residuals"},
}
UNIVARIATE = {"NumericDrift", "MeanShift"}
# Not a contender of its own: DataQuality finds bad values, not drift (it is in the suite).
NOT_ALONE = {"DataQuality", "AlertPolicy"}


def _driftline_contenders() -> list[Contender]:
    found = available()
    out = []
    for name, watches in DRIFTLINE.items():
        if name in found:
            out.append(Contender(name, "driftline", frozenset(watches), _alone(found[name], watches),
                                 univariate=name in UNIVARIATE))
    # Anything else on the error stream (e.g. river's binary detectors behind
    # driftline's contract, with calibrated parameters) is fed the errors.
    for name, cls in sorted(found.items()):
        if (name in DRIFTLINE or name in NOT_ALONE or getattr(cls, "kind", None) != "concept_drift"
                or not isinstance(getattr(cls, "name", None), str)):  # a shared base, not a detector
            continue
        out.append(Contender(name, "driftline", frozenset({"errors"}), _alone(cls, {"errors": "errors"})))
    # The suite is fed every block a stream has, whatever its target; "model"
    # and "regressor" are the stationary views of whole models.
    out.append(Contender(SUITE, "driftline", frozenset({*BLOCKS, "model", "regressor"}), build_suite))
    return out


# ---------------------------------------------------------------- river


def _river(make: Callable[[int], Any], flip: bool = False) -> Callable[[Blocks, str, int], Runner]:
    def build(data: Blocks, target: str, seed: int) -> Runner:
        return RiverRunner(make, _numbers(data.rows(0, 0), target).shape[1], target, seed, flip)
    return build


_ANY = frozenset({"numeric", "errors", "prediction", "residuals"})
_BINARY = frozenset({"errors"})


def _river_contenders() -> list[Contender]:
    return [
        Contender("river ADWIN", "river", _ANY, _river(lambda s: drift.ADWIN()), univariate=True),
        Contender("river PageHinkley", "river", _ANY, _river(lambda s: drift.PageHinkley()), univariate=True),
        Contender("river KSWIN", "river", _ANY, _river(lambda s: drift.KSWIN(seed=s)), univariate=True,
                  slow=True),
        Contender("river DDM", "river", _BINARY, _river(lambda s: binary.DDM())),
        Contender("river EDDM", "river", _BINARY, _river(lambda s: binary.EDDM())),
        Contender("river HDDM_A", "river", _BINARY, _river(lambda s: binary.HDDMA())),
        Contender("river HDDM_W", "river", _BINARY, _river(lambda s: binary.HDDMW())),
        Contender("river FHDDM", "river", _BINARY, _river(lambda s: binary.FHDDM(), flip=True)),
    ]


def contenders() -> list[Contender]:
    """driftline's detectors present in this checkout, the suite, then river's."""
    return _driftline_contenders() + _river_contenders()


def by_name() -> dict[str, Contender]:
    return {c.name: c for c in contenders()}


# river's binary detectors behind driftline's contract (detectors/predictions/river_binary.py);
# they need no entry above, but a run says when they are not exported yet.
RIVER_BINARY = ("DDMDrift", "EDDMDrift", "HDDMADrift", "HDDMWDrift", "FHDDMDrift")


def missing_driftline() -> list[str]:
    """Detectors the benchmark knows how to run that this checkout does not export yet."""
    found = available()
    return [name for name in (*DRIFTLINE, *RIVER_BINARY) if name not in found]

"""The suite's members as data: which detector, on what stream and columns, at what share.

A :class:`~driftline.detectors.suite.DriftSuite` is built from :data:`ENTRIES`:
each :class:`Entry` names a detector factory, the stream it reads (the
prediction events' ``inputs`` or the labeled predictions' ``outcomes``), the
columns of that stream it is given, and the detector's share of the model's
false-alarm budget. Which entries run, and at what share, is a mapping from
entry name to share (:data:`DEFAULT`, or one that :func:`parse_detectors`
reads from ``DRIFTLINE_DETECTORS``); :func:`check_detectors` checks it once,
before any suite is built. Adding a detector is one entry here and one case
in the detector contract's tests.

>>> sorted(DEFAULT)
['accuracy', 'adwin', 'adwin_class', 'chi2', 'cusum', 'error', 'ks', 'mmd', 'prior', 'quality', 'residual']
>>> spec = parse_detectors("-mmd, hddm_w=0.05, ks=0.15")
>>> spec["hddm_w"], spec["ks"], "mmd" in spec
(0.05, 0.15, False)
>>> check_detectors(spec, false_alarm_rate=1e-6)
Traceback (most recent call last):
...
ValueError: detector hddm_w: its share 0.05 of the false-alarm rate 1e-06 is 5e-08 per event, below the 1e-06 its settings were measured at; raise its share or the rate
>>> check_detectors(parse_detectors("-mmd,-prior,hddm_w=0.2"), false_alarm_rate=1e-5)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Literal

from driftline.detectors.base import Detector
from driftline.detectors.features.chi2 import CategoricalDrift
from driftline.detectors.features.cusum import MeanShift
from driftline.detectors.features.ks import NumericDrift
from driftline.detectors.features.mmd import MultivariateDrift
from driftline.detectors.features.quality import DataQuality
from driftline.detectors.predictions.accuracy import AccuracyDrop
from driftline.detectors.predictions.class_error import ClassErrorDrift
from driftline.detectors.predictions.error_increase import ErrorIncrease
from driftline.detectors.predictions.error_rate import ErrorRateDrift
from driftline.detectors.predictions.prior_shift import PriorShift
from driftline.detectors.predictions.residual_shift import ResidualShift
from driftline.detectors.predictions.river_binary import (
    _CALIBRATED_RATE, DDMDrift, EDDMDrift, FHDDMDrift, HDDMADrift, HDDMWDrift)
from driftline.detectors.profile import PREDICTION

# The part of its share a detector spends when its threshold extrapolates a tail. The
# target is a limit an ops team holds us to, and the calibrations extrapolate tails:
# KS's rate per test came out 1.22 times its target at 10^-4 (40 references x 10^4
# windows of ten mixed features), and the whole suite 1.2 and 1.4 times the target over
# 5 x 10^6 stationary events (benchmarks/detection.py, a classifier's and a regressor's
# model), both within sampling error of it. Half the target keeps the measured rate
# below it. Detectors whose parameter is read off measured false alarms (PriorShift,
# ADWIN, river's) keep their whole share.
HEADROOM = 0.5
# ADWIN's significance delta at which 3 x 10^7 stationary error events gave 2 false
# alarms (0.07 per 10^6) at a share of 0.15 of the default target. Its false alarms
# scale about linearly with delta (a union bound over cuts), so another share moves
# delta in proportion.
_ADWIN_DELTA = 0.001
_ADWIN_DELTA_RATE = 0.075e-6
_ADWIN_MAX_DELTA = 0.025


@dataclasses.dataclass(frozen=True)
class Plan:
    """What an entry's factory knows of the model: its columns and the suite's parameters."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    reference_size: int
    window: int
    accuracy_window: int
    seed: int
    score: Mapping = dataclasses.field(default_factory=dict)  # the registered performance

    @property
    def features(self) -> list[str]:
        """The numeric inputs, without a regressor's prediction."""
        return [c for c in self.numeric if c != PREDICTION]

    @property
    def regression(self) -> bool:
        """A numeric prediction is a regressor's: its errors are sizes, not right or wrong."""
        return PREDICTION in self.numeric


InputColumns = Literal["numeric", "features", "categorical", "prediction", "quality"]
OutcomeColumns = Literal["errors", "error_pairs", "outcomes"]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One member of the suite.

    ``columns`` says what ``update`` is given: of the inputs, the numeric
    columns (a regressor's prediction among them), the numeric ``features``
    alone, the categorical columns, a classifier's ``prediction`` or the
    data-quality codes; of the outcomes, the ``errors`` (1 wrong, 0 right), the
    ``(error, predicted class)`` pairs, or the ``outcomes`` as they come (1
    right for a classifier, the residual for a regressor). ``factory`` makes
    the detector from the :class:`Plan` and its false-alarm rate (None for an
    entry outside the budget). ``member`` is the name its state is kept under.
    """

    name: str
    member: str
    stream: Literal["inputs", "outcomes"]
    columns: str
    factory: Callable[[Plan, float | None], Detector]
    applies: Callable[[Plan], bool] = lambda plan: True
    headroom: bool = True        # spends HEADROOM of its share
    reference: bool = False      # takes the profile's rows of its columns as reference
    calibrated: bool = False     # its calibration is stored with the profile
    scored: bool = False         # made again with the profile's score as baseline
    min_rate: float = 0.0        # the smallest rate its settings were measured at

    def rate(self, share: float | None, false_alarm_rate: float) -> float | None:
        """False alarms per event this entry may raise with ``share`` of the model's target."""
        if share is None:
            return None
        return share * false_alarm_rate * (HEADROOM if self.headroom else 1.0)


def adwin_delta(rate: float) -> float:
    """ADWIN's delta for a false-alarm rate per event (see ``_ADWIN_DELTA``)."""
    return min(_ADWIN_DELTA * rate / _ADWIN_DELTA_RATE, _ADWIN_MAX_DELTA)


def _performance(plan: Plan, rate: float | None) -> Detector:
    """The performance test, against the registered score if there is one that fits."""
    score, w = plan.score, plan.accuracy_window
    value, n = score.get("value"), score.get("n")
    n = int(n) if n else None
    if plan.regression:
        std = score.get("std")
        if score.get("metric") == "mae" and value is not None and std is not None:
            return ErrorIncrease(window=w, baseline=float(value), baseline_std=float(std),
                                 baseline_n=n, false_alarm_rate=rate)
        return ErrorIncrease(window=w, false_alarm_rate=rate)
    if score.get("metric") == "accuracy" and value is not None:
        return AccuracyDrop(window=w, baseline=float(value), baseline_n=n, false_alarm_rate=rate)
    return AccuracyDrop(window=w, false_alarm_rate=rate)


def _classifier(plan: Plan) -> bool:
    return not plan.regression


def _river(name: str, cls: type[Detector]) -> Entry:
    return Entry(name, name, "outcomes", "errors", lambda plan, rate: cls(false_alarm_rate=rate),
                 applies=_classifier, headroom=False, min_rate=_CALIBRATED_RATE)


# In the order they run; detections of one batch are then sorted by position.
ENTRIES: dict[str, Entry] = {e.name: e for e in (
    Entry("ks", "numeric_drift", "inputs", "numeric",
          lambda p, r: NumericDrift(list(p.numeric), reference_size=p.reference_size,
                                    window=p.window, false_alarm_rate=r, seed=p.seed),
          applies=lambda p: bool(p.numeric), reference=True, calibrated=True),
    Entry("cusum", "mean_shift", "inputs", "numeric",
          lambda p, r: MeanShift(list(p.numeric), reference_size=p.reference_size,
                                 false_alarm_rate=r, seed=p.seed),
          applies=lambda p: bool(p.numeric), reference=True, calibrated=True),
    Entry("chi2", "categorical_drift", "inputs", "categorical",
          lambda p, r: CategoricalDrift(list(p.categorical), reference_size=p.reference_size,
                                        window=p.window, false_alarm_rate=r),
          applies=lambda p: bool(p.categorical), reference=True, calibrated=True),
    Entry("quality", "quality", "inputs", "quality",
          lambda p, r: DataQuality(list(p.numeric) + list(p.categorical), window=p.window)),
    Entry("prior", "prior", "inputs", "prediction",
          lambda p, r: PriorShift([PREDICTION], reference_size=p.reference_size, false_alarm_rate=r),
          applies=lambda p: PREDICTION in p.categorical, headroom=False, reference=True),
    # One column has no joint distribution to watch.
    Entry("mmd", "multivariate", "inputs", "features",
          lambda p, r: MultivariateDrift(p.features, reference_size=p.reference_size,
                                         window=p.window, false_alarm_rate=r, seed=p.seed),
          applies=lambda p: len(p.features) >= 2, reference=True, calibrated=True),
    # The whole error stream, and the streams of the predicted classes, which split its
    # items: a moved boundary shows in one class first.
    Entry("adwin", "error_rate", "outcomes", "errors",
          lambda p, r: ErrorRateDrift(delta=adwin_delta(r)), applies=_classifier, headroom=False),
    Entry("adwin_class", "class_errors", "outcomes", "error_pairs",
          lambda p, r: ClassErrorDrift(delta=adwin_delta(r)), applies=_classifier, headroom=False),
    Entry("residual", "residual_shift", "outcomes", "outcomes",
          lambda p, r: ResidualShift(reference_size=p.reference_size, false_alarm_rate=r, seed=p.seed),
          applies=lambda p: p.regression),
    _river("ddm", DDMDrift), _river("eddm", EDDMDrift), _river("hddm_a", HDDMADrift),
    _river("hddm_w", HDDMWDrift), _river("fhddm", FHDDMDrift),
    Entry("accuracy", "performance", "outcomes", "outcomes", _performance, applies=_classifier,
          scored=True),
    Entry("error", "performance", "outcomes", "outcomes", _performance,
          applies=lambda p: p.regression, scored=True),
)}

# Share of the model's false-alarm budget per entry. The windowed tests and the
# sequential ones look at the same numbers in two ways (a distribution moving a little
# versus a mean jumping a lot), so they split a column's share: ks and cusum the numeric
# columns, chi2 and prior a classifier's prediction. The error-stream detectors count
# labeled events, which are at most as many as predictions, so their share per
# prediction is no larger; a model runs adwin and adwin_class (a classifier) or residual
# (a regressor), accuracy or error, never both. Data quality is outside the budget: a
# missing value or a wrong type is a fact, not a test that can err.
DEFAULT: dict[str, float | None] = {
    "ks": 0.20, "cusum": 0.10, "mmd": 0.10, "chi2": 0.20, "prior": 0.15, "quality": None,
    "adwin": 0.075, "adwin_class": 0.075, "residual": 0.15, "accuracy": 0.10, "error": 0.10,
}
_SLACK = 1e-9


def parse_detectors(text: str) -> dict[str, float | None]:
    """The entries a ``DRIFTLINE_DETECTORS`` value makes of :data:`DEFAULT`.

    Comma-separated changes: ``-name`` leaves an entry out, ``name=share``
    sets its share (adding it if the default has none, as river's ``ddm``,
    ``eddm``, ``hddm_a``, ``hddm_w`` and ``fhddm``). An empty value is the
    default. ValueError names what does not fit.
    """
    spec = dict(DEFAULT)
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item.startswith("-"):
            name = item[1:].strip()
            _known(name)
            spec.pop(name, None)
            continue
        name, sep, share = (s.strip() for s in item.partition("="))
        _known(name)
        if not sep:
            if name not in DEFAULT:
                raise ValueError(f"detector {name}: give it a share of the budget ({name}=0.05)")
            spec[name] = DEFAULT[name]
            continue
        if name == "quality":
            raise ValueError("detector quality is outside the budget: it takes no share")
        try:
            value = float(share)
        except ValueError:
            raise ValueError(f"detector {name}: share {share!r} is not a number") from None
        if not 0.0 < value <= 1.0:
            raise ValueError(f"detector {name}: share {share} is not in (0, 1]")
        spec[name] = value
    return spec


def check_detectors(spec: Mapping[str, float | None], false_alarm_rate: float) -> None:
    """ValueError if ``spec`` spends more than the whole budget or an entry cannot run at its rate.

    The shares of the entries that run together, a classifier's and a
    regressor's, add up to at most one.
    """
    for name in spec:
        _known(name)
    for kind, regression in (("a classifier's", False), ("a regressor's", True)):
        plan = Plan(("x", "y") + ((PREDICTION,) if regression else ()),
                    ("c",) + (() if regression else (PREDICTION,)), 1, 1, 1, 0)
        total = sum(share or 0.0 for name, share in spec.items() if ENTRIES[name].applies(plan))
        if total > 1.0 + _SLACK:
            raise ValueError(f"the detectors' shares of {kind} budget add up to {total:g}, "
                             "more than the whole budget (1)")
    for name, share in spec.items():
        entry = ENTRIES[name]
        rate = entry.rate(share, false_alarm_rate)
        if entry.min_rate and (rate is None or rate < entry.min_rate * (1 - _SLACK)):
            raise ValueError(f"detector {name}: its share {share:g} of the false-alarm rate "
                             f"{false_alarm_rate:g} is {rate:g} per event, below the "
                             f"{entry.min_rate:g} its settings were measured at; raise its "
                             "share or the rate")


def _known(name: str) -> None:
    if name not in ENTRIES:
        raise ValueError(f"no detector named {name!r} (known: {', '.join(ENTRIES)})")

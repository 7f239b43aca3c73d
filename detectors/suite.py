"""All of one model version's detectors, sharing one false-alarm budget.

A model is watched by several detectors at once, each running several tests
(one per feature, per statistic, per window). An ops team counts pages per
model, so the target ``false_alarm_rate`` (false alarms per prediction event
in a stationary stream) is for the model as a whole: :data:`SHARES` splits it
between the detectors, and each detector splits its share between its own
tests. The shares add up to one, and the detectors whose thresholds extrapolate
a tail spend :data:`HEADROOM` of theirs, so the model's expected false alarms
stay below the target, whatever the number of features, even where a
calibration errs.
"""

from __future__ import annotations

import numpy as np

from driftline.detectors.predictions.accuracy import AccuracyDrop
from driftline.detectors.base import Detection, Detector, Key
from driftline.detectors.features.chi2 import CategoricalDrift
from driftline.detectors.predictions.class_error import ClassErrorDrift, error_pairs
from driftline.detectors.features.cusum import MeanShift
from driftline.detectors.predictions.error_increase import ErrorIncrease
from driftline.detectors.predictions.error_rate import ErrorRateDrift
from driftline.detectors.features.ks import NumericDrift
from driftline.detectors.features.mmd import MultivariateDrift
from driftline.detectors.predictions.prior_shift import PriorShift
from driftline.detectors.profile import PREDICTION, ReferenceProfile
from driftline.detectors.features.quality import DataQuality, category_codes, numeric_codes, numeric_ranges
from driftline.detectors.predictions.residual_shift import ResidualShift

# Share of the model's false-alarm budget per detector (by its name). The
# windowed tests and the sequential ones look at the same numbers in two ways
# (a distribution moving a little versus a mean jumping a lot), so they split
# a column's share: ks and cusum the numeric columns, chi2 and prior a
# classifier's prediction. The error-stream detectors count labeled events, which
# are at most as many as predictions, so their share per prediction is no larger;
# a model runs ErrorRateDrift or ResidualShift, never both, so they share one.
SHARES: dict[str, float] = {
    "ks": 0.20,        # NumericDrift: windowed two-sample tests per numeric column
    "cusum": 0.10,     # MeanShift: sequential, fast on large mean shifts
    "mmd": 0.10,       # MultivariateDrift: the joint distribution of the numeric features
    "chi2": 0.20,      # CategoricalDrift: categorical columns and the prediction
    "prior": 0.15,     # PriorShift: sequential, a classifier's predicted class shares
    "adwin": 0.15,     # ErrorRateDrift (classifiers) or ResidualShift (regressors): concept drift
                       # on the error stream
    "accuracy": 0.10,  # AccuracyDrop (classifiers) or ErrorIncrease (regressors): performance
}
# The part of the target the suite spends. The target is a limit an ops team holds
# us to, and the calibrations extrapolate tails: KS's rate per test came out 1.22
# times its target at 10^-4 (40 references x 10^4 windows of ten mixed features),
# and the whole suite 1.2 and 1.4 times the target over 5 x 10^6 stationary events
# (benchmarks/detection.py, a classifier's and a regressor's model), both
# within sampling error of it. Half the target keeps the measured rate below it.
# Detectors whose parameter is read off measured false alarms (PriorShift, a
# classifier's ADWIN) keep their whole share.
HEADROOM = 0.5
# ADWIN's significance delta at which 3 x 10^7 stationary error events gave 2
# false alarms (0.07 per 10^6), inside the 0.15 share of the default target.
# Its false alarms scale about linearly with delta (a union bound over cuts),
# so another target moves delta in proportion.
_ADWIN_DELTA = 0.002
_ADWIN_DELTA_RATE = 0.15e-6
# A categorical column whose reference puts less than this share of its mass on
# categories seen once (Good and Turing's estimate of the chance that the next
# value is new) has a closed vocabulary, and a new category in it is a data
# problem. An open one (names, ids, a long tail) meets new values all the time;
# there the chi-squared test's "<other>" cell watches how often.
_CLOSED_VOCABULARY = 0.01


class DriftSuite:
    """The detectors of one model version: inputs and predictions, errors and accuracy.

    Inputs are fed with :meth:`update_inputs` (numeric and categorical
    columns of the prediction events, and their data-quality codes), outcomes
    with :meth:`update_outcomes` (1 for a correct prediction, 0 for a wrong
    one). Each returns the detections and the keys checked, ready for an
    :class:`~driftline.detectors.AlertPolicy`; the two streams count different
    items, so :attr:`inputs_seen` and :attr:`outcomes_seen` are the ``n_seen``
    to pass with each.

    Without a reference profile every detector warms up on the stream itself
    (``reference_size`` rows); :meth:`set_reference` instead gives all of them
    the version's training profile, and its calibrations when they fit.

    Parameters
    ----------
    numeric, categorical
        Column names; the prediction is one of them, named ``"<prediction>"``.
    false_alarm_rate
        Target false alarms per prediction event for the whole model.
    reference_size, window
        Rows in a warm-up reference, and rows per tested window.
    accuracy_window
        Labeled predictions per window of the performance test.
    seed
        Seeds every detector's calibration.

    Examples
    --------
    >>> import numpy as np
    >>> from driftline.detectors.suite import DriftSuite
    >>> rng = np.random.default_rng(0)
    >>> suite = DriftSuite(["amount", "age"], ["country", "<prediction>"])
    >>> [type(d).__name__ for d in suite.inputs]
    ['NumericDrift', 'MeanShift', 'MultivariateDrift', 'CategoricalDrift', 'PriorShift', 'DataQuality']
    >>> n = 3000
    >>> X = rng.normal(size=(n, 2))
    >>> X[2000:, 0] += 2.0
    >>> C = np.array([["NL", "1"]] * n, dtype=object)
    >>> found, checked = suite.update_inputs(X, C, np.zeros((n, 4), dtype=np.int8))
    >>> sorted({(d.detector, d.feature) for d in found})
    [('cusum', 'amount'), ('ks', 'amount'), ('mmd', None), ('psi', 'amount')]
    """

    def __init__(self, numeric: list[str], categorical: list[str], false_alarm_rate: float = 1e-6,
                 reference_size: int = 1000, window: int = 500, accuracy_window: int = 500,
                 seed: int = 0) -> None:
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.false_alarm_rate = false_alarm_rate
        self.reference_size = reference_size
        self.window = window
        self.accuracy_window = accuracy_window
        self.seed = seed
        self.features = [c for c in self.numeric if c != PREDICTION]
        full = {name: share * false_alarm_rate for name, share in SHARES.items()}
        rate = {name: r * HEADROOM for name, r in full.items()}
        # PriorShift's and ADWIN's deltas are read off curves that lie above their measured
        # false alarms, not extrapolated: they need no headroom.
        rate["prior"] = full["prior"]
        self.numeric_drift = self.mean_shift = self.multivariate = None
        if self.numeric:
            self.numeric_drift = NumericDrift(self.numeric, reference_size=reference_size,
                                              window=window, false_alarm_rate=rate["ks"], seed=seed)
            self.mean_shift = MeanShift(self.numeric, reference_size=reference_size,
                                        false_alarm_rate=rate["cusum"], seed=seed)
        if len(self.features) >= 2:  # one column has no joint distribution to watch
            self.multivariate = MultivariateDrift(self.features, reference_size=reference_size,
                                                  window=window, false_alarm_rate=rate["mmd"],
                                                  seed=seed)
        self.categorical_drift = None
        if self.categorical:
            self.categorical_drift = CategoricalDrift(self.categorical, reference_size=reference_size,
                                                      window=window, false_alarm_rate=rate["chi2"])
        # A classifier's prediction is categorical: the share of each class is watched too.
        self.prior = None
        if PREDICTION in self.categorical:
            self.prior = PriorShift([PREDICTION], reference_size=reference_size,
                                    false_alarm_rate=rate["prior"])
        self.quality = DataQuality(self.numeric + self.categorical, window=window)
        # What the quality codes for out-of-range values and unseen categories
        # compare with: the profile's rows, or the first reference_size rows.
        self._ranges: list[list[float]] | None = None
        self._vocabularies: dict[int, set] = {}  # closed categorical columns only
        self._warm_X = np.empty((0, len(self.numeric)))
        self._warm_C = np.empty((0, len(self.categorical)), dtype=object)
        # A numeric prediction is a regressor's: its errors are sizes, not right or wrong.
        self.regression = PREDICTION in self.numeric
        self._rates = rate
        self.error_rate = self.residual_shift = self.class_errors = None
        if self.regression:
            self.residual_shift = ResidualShift(reference_size=reference_size,
                                                false_alarm_rate=rate["adwin"], seed=seed)
        else:
            # Half the share for the whole error stream, half for the streams of the predicted
            # classes, which split its items: a moved boundary shows in one class first.
            delta = min(_ADWIN_DELTA * full["adwin"] / _ADWIN_DELTA_RATE, 0.05) / 2
            self.error_rate = ErrorRateDrift(delta=delta)
            self.class_errors = ClassErrorDrift(delta=delta)
        self.performance = self._performance({})
        self._profile: ReferenceProfile | None = None

    def _performance(self, score: dict) -> Detector:
        """The performance test, against the registered ``score`` if it has one that fits."""
        rate, value, n = self._rates["accuracy"], score.get("value"), score.get("n")
        n = int(n) if n else None
        if self.regression:
            std = score.get("std")
            if score.get("metric") == "mae" and value is not None and std is not None:
                return ErrorIncrease(window=self.accuracy_window, baseline=float(value),
                                     baseline_std=float(std), baseline_n=n, false_alarm_rate=rate)
            return ErrorIncrease(window=self.accuracy_window, false_alarm_rate=rate)
        if score.get("metric") == "accuracy" and value is not None:
            return AccuracyDrop(window=self.accuracy_window, baseline=float(value), baseline_n=n,
                                false_alarm_rate=rate)
        return AccuracyDrop(window=self.accuracy_window, false_alarm_rate=rate)

    # ------------------------------------------------------------ members

    @property
    def inputs(self) -> list[Detector]:
        """The detectors fed the prediction events, in the order they run."""
        return [d for d in (self.numeric_drift, self.mean_shift, self.multivariate,
                            self.categorical_drift, self.prior, self.quality) if d is not None]

    @property
    def outcomes(self) -> list[Detector]:
        """The detectors fed the outcome of each labeled prediction."""
        return [d for d in (self.error_rate, self.class_errors, self.residual_shift, self.performance)
                if d is not None]

    @property
    def readings(self) -> list[tuple[str, str | None, float, float]]:
        """``(detector, feature, statistic, threshold)`` of every member's latest tests."""
        return [r for d in self.inputs + self.outcomes for r in d.readings]

    @property
    def inputs_seen(self) -> int:
        return self.quality.n_seen

    @property
    def outcomes_seen(self) -> int:
        return self.performance.n_seen

    # ------------------------------------------------------------ updates

    def update_inputs(self, X: np.ndarray, C: np.ndarray, Q: np.ndarray) -> tuple[list[Detection], list[Key]]:
        """Feed prediction rows: numeric ``X`` (NaN missing), categorical ``C``, quality codes ``Q``.

        ``Q`` has one column per numeric then categorical column, with the
        codes the caller knows (missing, wrong type; see
        :mod:`driftline.detectors.features.quality`); out-of-range numbers, non-finite
        numbers and unseen categories of closed vocabularies are coded here,
        against the reference.
        """
        Q = self._quality_codes(X, C, Q)
        feeds = [(self.numeric_drift, X), (self.mean_shift, X), (self.categorical_drift, C),
                 (self.quality, Q)]
        if self.prior is not None:
            feeds.append((self.prior, C[:, [self.categorical.index(PREDICTION)]]))
        if self.multivariate is not None:
            feeds.append((self.multivariate, X[:, [self.numeric.index(f) for f in self.features]]))
        return _run(feeds)

    def _quality_codes(self, X: np.ndarray, C: np.ndarray, Q: np.ndarray) -> np.ndarray:
        if self._ranges is None:
            self._warm_X = np.concatenate([self._warm_X, X])[:self.reference_size]
            self._warm_C = np.concatenate([self._warm_C, C])[:self.reference_size]
            if len(self._warm_X) < self.reference_size:
                return Q
            self._set_quality_reference(self._warm_X, self._warm_C)
        d = len(self.numeric)
        Q = np.array(Q, dtype=np.int8)
        Q[:, :d] = numeric_codes(X, self._ranges, Q[:, :d])
        if self._vocabularies:
            cols = sorted(self._vocabularies)
            Q[:, [d + j for j in cols]] = category_codes(
                C[:, cols], [self._vocabularies[j] for j in cols], Q[:, [d + j for j in cols]])
        return Q

    def _set_quality_reference(self, X: np.ndarray, C: np.ndarray) -> None:
        self._ranges = numeric_ranges(X)
        self._vocabularies = {}
        for j in range(C.shape[1]):
            values = [v for v in C[:, j].tolist() if v is not None]
            counts: dict = {}
            for v in values:
                counts[v] = counts.get(v, 0) + 1
            singletons = sum(1 for k in counts.values() if k == 1)
            if values and singletons / len(values) < _CLOSED_VOCABULARY:
                self._vocabularies[j] = set(counts)
        self._warm_X = self._warm_X[:0]
        self._warm_C = self._warm_C[:0]

    def update_outcomes(self, outcomes: np.ndarray,
                        predicted: np.ndarray | None = None) -> tuple[list[Detection], list[Key]]:
        """Feed the labeled predictions' outcomes, NaN where unknown.

        For a classifier 1 for each correct prediction and 0 for each wrong
        one, and ``predicted``, the class each predicted (without it the
        errors are watched on the whole stream only); for a regressor the
        residual ``prediction - label``.
        """
        outcomes = np.asarray(outcomes, dtype=np.float64)
        if self.regression:
            return _run([(self.residual_shift, outcomes), (self.performance, outcomes)])
        feeds = [(self.error_rate, 1.0 - outcomes), (self.performance, outcomes)]
        if predicted is not None and self.class_errors is not None:
            if len(predicted) != len(outcomes):
                raise ValueError(f"{len(predicted)} predicted classes for {len(outcomes)} outcomes")
            feeds.insert(1, (self.class_errors, error_pairs(1.0 - outcomes, predicted)))
        return _run(feeds)

    # ------------------------------------------------------------ reference

    def set_reference(self, profile: ReferenceProfile) -> None:
        """Take the version's training profile as every detector's reference.

        Columns are matched by name; a calibration stored in the profile is
        used by the detector it belongs to when it was made for the same
        parameters and rows, and made afresh otherwise. The profile's score
        (``{"metric": "accuracy", "value": 0.91, "n": 450}`` for a classifier,
        ``{"metric": "mae", "value": 3.2, "std": 2.5, "n": 450}`` for a
        regressor) becomes the performance baseline, its sampling error included.
        """
        X = _columns(profile.numeric_rows, profile.numeric, self.numeric, np.nan, np.float64)
        C = _columns(profile.categorical_rows, profile.categorical, self.categorical, None, object)
        stored = profile.calibration
        for det, rows in ((self.numeric_drift, X), (self.mean_shift, X),
                          (self.categorical_drift, C)):
            if det is not None:
                _set_reference(det, rows, stored.get(det.name))
        if self.multivariate is not None:
            rows = X[:, [self.numeric.index(f) for f in self.features]]
            _set_reference(self.multivariate, rows, stored.get(self.multivariate.name))
        if self.prior is not None:
            _set_reference(self.prior, C[:, [self.categorical.index(PREDICTION)]], None)
        self._set_quality_reference(X, C)
        perf = profile.performance
        self.performance = self._performance(perf)
        self._profile = ReferenceProfile(
            self.numeric, self.categorical, X, C,
            calibration={d.name: getattr(d, "calibration", None) for d in self.inputs
                         if getattr(d, "calibration", None) is not None},
            performance=dict(perf), source=profile.source)

    # ------------------------------------------------------------ state

    _MEMBERS = ("numeric_drift", "mean_shift", "multivariate", "categorical_drift", "prior",
                "quality", "error_rate", "class_errors", "residual_shift", "performance")

    def state_dict(self) -> dict:
        """Plain data to go on from: the parameters, each member detector's ``state_dict()``,
        and the quality reference (see :meth:`from_state`)."""
        return {
            "params": {"numeric": list(self.numeric), "categorical": list(self.categorical),
                       "false_alarm_rate": self.false_alarm_rate, "reference_size": self.reference_size,
                       "window": self.window, "accuracy_window": self.accuracy_window, "seed": self.seed},
            "members": {name: None if getattr(self, name) is None else getattr(self, name).state_dict()
                        for name in self._MEMBERS},
            "ranges": self._ranges,
            "vocabularies": {j: sorted(v, key=repr) for j, v in self._vocabularies.items()},
            "warm_X": self._warm_X.copy(), "warm_C": self._warm_C.copy(),
        }

    @classmethod
    def from_state(cls, state: dict) -> DriftSuite:
        """The suite ``state_dict()`` described; ValueError if it does not fit this code."""
        from driftline.detectors import DETECTORS

        suite = cls(**state["params"])
        for name, saved in state["members"].items():
            if name not in cls._MEMBERS:
                raise ValueError(f"a suite has no member {name!r}")
            if saved is None:
                setattr(suite, name, None)
                continue
            kind = DETECTORS.get(saved.get("detector"))
            if kind is None:
                raise ValueError(f"no detector named {saved.get('detector')!r}")
            det = kind(**saved["params"])
            det.load_state_dict(saved)
            setattr(suite, name, det)
        suite._ranges = None if state["ranges"] is None else [list(map(float, r)) for r in state["ranges"]]
        suite._vocabularies = {int(j): set(v) for j, v in state["vocabularies"].items()}
        suite._warm_X = np.asarray(state["warm_X"], dtype=np.float64)
        suite._warm_C = np.asarray(state["warm_C"], dtype=object)
        return suite

    @property
    def profile(self) -> ReferenceProfile | None:
        """The reference given to :meth:`set_reference`, with every detector's calibration."""
        return self._profile


def calibrate(profile: ReferenceProfile, **params) -> ReferenceProfile:
    """``profile`` with the calibration of every detector a :class:`DriftSuite` with ``params`` runs.

    The retrainer stores the result with the version, so a monitor with the
    same settings starts testing at once instead of calibrating again.
    """
    suite = DriftSuite(profile.numeric, profile.categorical, **params)
    suite.set_reference(profile)
    return suite.profile


def _set_reference(det: Detector, rows: np.ndarray, calibration: dict | None) -> None:
    present = ~_missing(rows)
    if not present.any(axis=0).all():
        # A column with no value in the reference gives nothing to compare with; the
        # detector keeps warming up on the stream instead of testing against nothing.
        return
    try:
        det.set_reference(rows, calibration=calibration)
    except ValueError:
        if calibration is None:
            raise
        det.set_reference(rows)  # a stored calibration that does not fit is made afresh


def _missing(rows: np.ndarray) -> np.ndarray:
    if rows.dtype == object:
        return np.vectorize(lambda v: v is None, otypes=[bool])(rows) if rows.size else \
            np.zeros(rows.shape, dtype=bool)
    return np.isnan(rows)


def _columns(rows: np.ndarray, names: list[str], wanted: list[str], fill, dtype) -> np.ndarray:
    """The columns ``wanted`` of ``rows`` (named ``names``); absent ones filled with ``fill``."""
    out = np.empty((len(rows), len(wanted)), dtype=dtype)
    out[:] = fill
    index = {n: j for j, n in enumerate(names)}
    for j, name in enumerate(wanted):
        if name in index:
            out[:, j] = rows[:, index[name]]
    return out


def _run(feeds) -> tuple[list[Detection], list[Key]]:
    detections: list[Detection] = []
    checked: list[Key] = []
    for det, batch in feeds:
        if det is None:
            continue
        det.update(batch)
        detections += det.detections
        checked += det.checked
    # Earliest first, whichever detector found it: the policy opens an episode with the
    # first detection it is given, and the alert's event time is that detection's.
    detections.sort(key=lambda d: d.batch_index)
    return detections, checked

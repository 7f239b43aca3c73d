"""All of one model version's detectors, sharing one false-alarm budget.

A model is watched by several detectors at once, each running several tests
(one per feature, per statistic, per window). An ops team counts pages per
model, so the target ``false_alarm_rate`` (false alarms per prediction event
in a stationary stream) is for the model as a whole: :data:`SHARES` splits it
between the detectors (the entries of :mod:`driftline.detectors.entries`), and each detector splits its share between its own
tests. The shares add up to one, and the detectors whose thresholds extrapolate
a tail spend :data:`HEADROOM` of theirs, so the model's expected false alarms
stay below the target, whatever the number of features, even where a
calibration errs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from driftline.detectors.base import Detection, Detector, Key
from driftline.detectors.entries import DEFAULT, ENTRIES, HEADROOM, Entry, Plan, check_detectors
from driftline.detectors.features.quality import category_codes, numeric_codes, numeric_ranges
from driftline.detectors.predictions.class_error import error_pairs
from driftline.detectors.profile import PREDICTION, ReferenceProfile

__all__ = ["DriftSuite", "HEADROOM", "PREDICTION", "SHARES", "calibrate"]

# Share of the model's false-alarm budget per detector, by its name (see
# driftline.detectors.entries for why each has the share it has).
SHARES: dict[str, float] = {name: share for name, share in DEFAULT.items() if share is not None}
# A categorical column whose reference puts less than this share of its mass on
# categories seen once (Good and Turing's estimate of the chance that the next
# value is new) has a closed vocabulary, and a new category in it is a data
# problem. An open one (names, ids, a long tail) meets new values all the time;
# there the chi-squared test's "<other>" cell watches how often.
_CLOSED_VOCABULARY = 0.01
# Every name a member's state has been kept under.
_MEMBERS = tuple(dict.fromkeys(e.member for e in ENTRIES.values()))


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
    detectors
        Which entries of :data:`~driftline.detectors.entries.ENTRIES` run, and
        each one's share of the budget (default
        :data:`~driftline.detectors.entries.DEFAULT`; see
        :func:`~driftline.detectors.entries.parse_detectors`).

    Examples
    --------
    >>> import numpy as np
    >>> from driftline.detectors.suite import DriftSuite
    >>> rng = np.random.default_rng(0)
    >>> suite = DriftSuite(["amount", "age"], ["country", "<prediction>"])
    >>> [type(d).__name__ for d in suite.inputs]
    ['NumericDrift', 'MeanShift', 'CategoricalDrift', 'DataQuality', 'PriorShift', 'MultivariateDrift']
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
                 seed: int = 0, detectors: Mapping[str, float | None] | None = None) -> None:
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.false_alarm_rate = false_alarm_rate
        self.reference_size = reference_size
        self.window = window
        self.accuracy_window = accuracy_window
        self.seed = seed
        self.detectors = dict(DEFAULT if detectors is None else detectors)
        check_detectors(self.detectors, false_alarm_rate)
        self._plan = Plan(tuple(self.numeric), tuple(self.categorical), reference_size, window,
                          accuracy_window, seed)
        self.features = self._plan.features
        self.regression = self._plan.regression
        # Member name -> detector, in the order the entries run.
        self._members: dict[str, Detector] = {}
        self._entries: dict[str, Entry] = {}
        for name, entry in ENTRIES.items():
            if name in self.detectors and entry.applies(self._plan):
                self._entries[entry.member] = entry
                self._members[entry.member] = entry.factory(self._plan, self._rate(entry))
        # What the quality codes for out-of-range values and unseen categories
        # compare with: the profile's rows, or the first reference_size rows.
        self._ranges: list[list[float]] | None = None
        self._vocabularies: dict[int, set] = {}  # closed categorical columns only
        self._warm_X = np.empty((0, len(self.numeric)))
        self._warm_C = np.empty((0, len(self.categorical)), dtype=object)
        self._profile: ReferenceProfile | None = None

    def _rate(self, entry: Entry) -> float | None:
        return entry.rate(self.detectors[entry.name], self.false_alarm_rate)

    def __getattr__(self, name: str):
        # The members by the names their state is kept under (``suite.performance``); None
        # for one this model does not run.
        if name in _MEMBERS and "_members" in self.__dict__:
            return self._members.get(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------ members

    def _running(self, stream: str) -> list[tuple[Entry, Detector]]:
        return [(self._entries[m], d) for m, d in self._members.items()
                if self._entries[m].stream == stream]

    @property
    def inputs(self) -> list[Detector]:
        """The detectors fed the prediction events, in the order they run."""
        return [d for _, d in self._running("inputs")]

    @property
    def outcomes(self) -> list[Detector]:
        """The detectors fed the outcome of each labeled prediction."""
        return [d for _, d in self._running("outcomes")]

    @property
    def readings(self) -> list[tuple[str, str | None, float, float]]:
        """``(detector, feature, statistic, threshold)`` of every member's latest tests."""
        return [r for d in self.inputs + self.outcomes for r in d.readings]

    @property
    def inputs_seen(self) -> int:
        return self.quality.n_seen if self.quality is not None else self._seen("inputs")

    @property
    def outcomes_seen(self) -> int:
        return self.performance.n_seen if self.performance is not None else self._seen("outcomes")

    def _seen(self, stream: str) -> int:
        return max((d.n_seen for _, d in self._running(stream)), default=0)

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
        return _run([(d, self._input_columns(e.columns, X, C, Q)) for e, d in self._running("inputs")])

    def _input_columns(self, columns: str, X: np.ndarray, C: np.ndarray, Q: np.ndarray | None):
        if columns == "numeric":
            return X
        if columns == "features":
            return X[:, [self.numeric.index(f) for f in self.features]]
        if columns == "categorical":
            return C
        if columns == "prediction":
            return C[:, [self.categorical.index(PREDICTION)]]
        if columns == "quality":
            return Q
        raise ValueError(f"no input columns named {columns!r}")

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
        feeds = []
        for entry, det in self._running("outcomes"):
            if entry.columns == "outcomes":
                feeds.append((det, outcomes))
            elif entry.columns == "errors":
                feeds.append((det, 1.0 - outcomes))
            elif entry.columns == "error_pairs":
                if predicted is None:
                    continue
                if len(predicted) != len(outcomes):
                    raise ValueError(f"{len(predicted)} predicted classes for {len(outcomes)} outcomes")
                feeds.append((det, error_pairs(1.0 - outcomes, predicted)))
            else:
                raise ValueError(f"no outcome columns named {entry.columns!r}")
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
        for entry, det in self._running("inputs"):
            if entry.reference:
                _set_reference(det, self._input_columns(entry.columns, X, C, None),
                               stored.get(det.name) if entry.calibrated else None)
        self._set_quality_reference(X, C)
        perf = profile.performance
        plan = dataclasses.replace(self._plan, score=dict(perf))
        for member, entry in self._entries.items():
            if entry.scored:
                self._members[member] = entry.factory(plan, self._rate(entry))
        self._profile = ReferenceProfile(
            self.numeric, self.categorical, X, C,
            calibration={d.name: getattr(d, "calibration", None) for d in self.inputs
                         if getattr(d, "calibration", None) is not None},
            performance=dict(perf), source=profile.source)

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict:
        """Plain data to go on from: the parameters, each member detector's ``state_dict()``,
        and the quality reference (see :meth:`from_state`)."""
        return {
            "params": {"numeric": list(self.numeric), "categorical": list(self.categorical),
                       "false_alarm_rate": self.false_alarm_rate, "reference_size": self.reference_size,
                       "window": self.window, "accuracy_window": self.accuracy_window, "seed": self.seed,
                       "detectors": dict(self.detectors)},
            "members": {name: det.state_dict() for name, det in self._members.items()},
            "ranges": self._ranges,
            "vocabularies": {j: sorted(v, key=repr) for j, v in self._vocabularies.items()},
            "warm_X": self._warm_X.copy(), "warm_C": self._warm_C.copy(),
        }

    @classmethod
    def from_state(cls, state: dict) -> DriftSuite:
        """The suite ``state_dict()`` described; ValueError if it does not fit this code."""
        from driftline.detectors import DETECTORS

        suite = cls(**state["params"])
        members = state["members"]
        for name, saved in members.items():
            if name not in _MEMBERS:
                raise ValueError(f"a suite has no member {name!r}")
            if saved is None:  # an older suite that did not run it: it still does not
                suite._members.pop(name, None)
                continue
            if name not in suite._members:
                raise ValueError(f"member {name!r} is not one of this suite's detectors")
            kind = DETECTORS.get(saved.get("detector"))
            if kind is None:
                raise ValueError(f"no detector named {saved.get('detector')!r}")
            det = kind(**saved["params"])
            det.load_state_dict(saved)
            suite._members[name] = det
        for name in [m for m in suite._members if m not in members]:
            # Saved before this member existed, by a suite that had no such entry.
            suite._members.pop(name)
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

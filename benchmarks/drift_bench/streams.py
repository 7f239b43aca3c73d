"""Seeded streams with a known change, as aligned blocks of columns.

A stream is what one model sees: numeric features, categorical features, the
prediction and, once labels are joined, the 0/1 error of each prediction (a
classifier) or its residual ``prediction - label`` (a regressor). Each block
is optional. ``target`` names the block the change is in, which decides
the contenders that apply: a numeric test watches ``numeric``, a concept-drift
detector watches ``errors``; the monitor suite always gets every block.

Numeric features are a mix on purpose, because production data is rarely
normal: four standard normals, a skewed one (lognormal), an exponential one,
a heavy-tailed one (Student t, 3 df), an amount (lognormal with a long tail),
and two integer-valued ones with many ties (Poisson(3), Binomial(5, 0.3)).
Shifts are applied to one of the normal features, so that an effect in
standard deviations means what it says.

>>> s = covariate(COVARIATE_CHANGES[1], seed=3)
>>> s.scenario, s.target, s.drift_at, len(s.data), s.data.numeric_names[:2]
('abrupt mean +0.5 sd', 'numeric', 3311, 5311, ('n0', 'n1'))
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable

import numpy as np

NUMERIC_NAMES = ("n0", "n1", "n2", "n3", "skew", "exp", "t3", "amount", "poisson", "binom")
N_NORMAL = 4
CATEGORICAL_NAMES = ("few", "mid", "tail", "bin")
# The longest warm-up among the contenders is MultivariateDrift's reference of
# 2000 rows (NumericDrift's is 1000), after which windows of 500 rows are
# tested; a drift somewhere in [2500, 3500) leaves every contender at least
# one clean window, and it never falls on a window boundary.
DRIFT_FROM, DRIFT_SPREAD = 2500, 1000
HORIZON = 2000  # rows after an abrupt change within which a detection counts
RAMP = 2000  # rows over which a gradual change grows to its full size


BLOCKS = ("numeric", "categorical", "prediction", "errors", "residuals")


@dataclasses.dataclass(frozen=True)
class Blocks:
    """Row-aligned columns of one stream; any block may be None."""

    numeric: np.ndarray | None = None  # (n, d) float64
    numeric_names: tuple[str, ...] = ()
    categorical: np.ndarray | None = None  # (n, k) object, strings
    categorical_names: tuple[str, ...] = ()
    prediction: np.ndarray | None = None  # (n,) object class labels, or float64 for a regressor
    errors: np.ndarray | None = None  # (n,) float64, 1 = wrong prediction (a classifier)
    residuals: np.ndarray | None = None  # (n,) float64, prediction - label (a regressor)

    def __len__(self) -> int:
        for kind in BLOCKS:
            block = getattr(self, kind)
            if block is not None:
                return len(block)
        return 0

    def has(self, kind: str) -> bool:
        return getattr(self, kind) is not None

    @property
    def regression(self) -> bool:
        return self.residuals is not None

    def rows(self, start: int, stop: int) -> Blocks:
        def cut(a):
            return None if a is None else a[start:stop]
        return dataclasses.replace(self, **{k: cut(getattr(self, k)) for k in BLOCKS})

    def only(self, kind: str | None) -> Blocks:
        """The same rows with one block kept (all of them for None)."""
        if kind is None:
            return self
        return dataclasses.replace(self, **{k: getattr(self, k) if k == kind else None for k in BLOCKS})


@dataclasses.dataclass(frozen=True)
class Stream:
    """One seeded stream and where its change is."""

    family: str
    scenario: str
    seed: int
    data: Blocks
    target: str  # the block the change is in: numeric, categorical, prediction, errors or residuals
    drift_at: int | None = None  # first row after the change began; None: no change
    horizon: int = HORIZON  # a detection counts if drift_at <= row < drift_at + horizon
    effect: str | None = None  # small, medium or large
    shape: str | None = None  # abrupt or gradual
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A named change; ``make(seed)`` builds one stream of it."""

    family: str
    name: str
    target: str
    effect: str | None
    shape: str | None
    make: Callable[[int], Stream]


def seed_for(base: int, *parts: str | int) -> int:
    """A reproducible 32-bit seed for one stream, independent across names and indices."""
    words = [base] + [zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def drift_point(rng: np.random.Generator) -> int:
    at = DRIFT_FROM + int(rng.integers(0, DRIFT_SPREAD))
    return at + 1 if at % 500 == 0 else at


# ---------------------------------------------------------------- generators


def numeric_features(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` rows of the ten features of :data:`NUMERIC_NAMES`."""
    X = np.empty((n, len(NUMERIC_NAMES)))
    X[:, :N_NORMAL] = rng.normal(size=(n, N_NORMAL))
    X[:, 4] = rng.lognormal(0.0, 0.75, size=n)
    X[:, 5] = rng.exponential(1.0, size=n)
    X[:, 6] = rng.standard_t(3, size=n)
    X[:, 7] = np.round(rng.lognormal(3.0, 1.5, size=n), 2)
    X[:, 8] = rng.poisson(3.0, size=n)
    X[:, 9] = rng.binomial(5, 0.3, size=n)
    return X


def _probabilities(k: int, exponent: float) -> np.ndarray:
    p = 1.0 / np.arange(1, k + 1) ** exponent
    return p / p.sum()


CATEGORIES = {  # name -> (labels, reference probabilities)
    "few": (np.array(["a", "b", "c", "d"], dtype=object), np.array([0.4, 0.3, 0.2, 0.1])),
    "mid": (np.array([f"m{k}" for k in range(20)], dtype=object), _probabilities(20, 1.0)),
    # A long tail: most of its 5000 categories are rare, and some of them
    # first show up long after any reference was taken.
    "tail": (np.array([f"t{k}" for k in range(5000)], dtype=object), _probabilities(5000, 1.1)),
    "bin": (np.array(["yes", "no"], dtype=object), np.array([0.7, 0.3])),
}


def categorical_features(rng: np.random.Generator, n: int) -> np.ndarray:
    C = np.empty((n, len(CATEGORICAL_NAMES)), dtype=object)
    for j, name in enumerate(CATEGORICAL_NAMES):
        labels, p = CATEGORIES[name]
        C[:, j] = labels[rng.choice(len(p), p=p, size=n)]
    return C


def stationary(seed: int, n: int, error_rate: float, residuals: str = "normal") -> Blocks:
    """A model's stream with nothing changing: every block, ``n`` rows.

    The prediction is a classifier's (class labels, with 0/1 ``errors`` at
    ``error_rate``); :func:`stationary_view` turns the same rows into a
    regressor's, whose ``residuals`` are drawn from ``residuals`` ("normal",
    "laplace" or "t5": Student t with 5 df), all with unit scale.
    """
    rng = np.random.default_rng(seed)
    X = numeric_features(rng, n)
    C = categorical_features(rng, n)
    # The prediction depends on the inputs, as a model's would.
    pred = np.where(X[:, 0] + 0.5 * X[:, 1] > 0.5, "1", "0").astype(object)
    errors = (rng.random(n) < error_rate).astype(np.float64)
    draw = {"normal": lambda: rng.normal(size=n), "laplace": lambda: rng.laplace(size=n),
            "t5": lambda: rng.standard_t(5, size=n)}
    return Blocks(X, NUMERIC_NAMES, C, CATEGORICAL_NAMES, pred, errors, draw[residuals]())


STATIONARY_ERROR_RATES = (0.05, 0.2, 0.35)
STATIONARY_RESIDUALS = ("normal", "laplace", "t5")
# The views of a stationary stream: one per block kind, and whole models.
STATIONARY_VIEWS = ("numeric", "categorical", "prediction", "errors", "residuals", "model", "regressor")
MODEL_VIEWS = ("model", "regressor")  # a classifier's and a regressor's rows, every block


def stationary_view(data: Blocks, view: str) -> Blocks:
    """The rows one view shows: one block, a classifier's whole model, or a regressor's."""
    if view == "model":
        return dataclasses.replace(data, residuals=None)
    if view == "regressor":
        prediction = data.numeric[:, 0] + 0.5 * data.numeric[:, 1]
        return dataclasses.replace(data, prediction=prediction, errors=None)
    return data.only(view)


# ---------------------------------------------------------------- covariate shift


@dataclasses.dataclass(frozen=True)
class CovariateChange:
    name: str
    effect: str
    shape: str
    shift: float = 0.0  # in standard deviations
    scale: float = 1.0


COVARIATE_CHANGES = (
    CovariateChange("abrupt mean +0.25 sd", "small", "abrupt", shift=0.25),
    CovariateChange("abrupt mean +0.5 sd", "medium", "abrupt", shift=0.5),
    CovariateChange("abrupt mean +1 sd", "large", "abrupt", shift=1.0),
    CovariateChange("abrupt scale x1.5", "medium", "abrupt", scale=1.5),
    CovariateChange("gradual mean +0.5 sd", "medium", "gradual", shift=0.5),
    CovariateChange("gradual mean +1 sd", "large", "gradual", shift=1.0),
)


def covariate(change: CovariateChange, seed: int) -> Stream:
    """One normal feature of ten moves; gradual changes grow linearly over :data:`RAMP` rows."""
    rng = np.random.default_rng(seed)
    at = drift_point(rng)
    horizon = HORIZON + (RAMP if change.shape == "gradual" else 0)
    n = at + horizon
    j = int(rng.integers(0, N_NORMAL))
    X = numeric_features(rng, n)
    ramp = np.ones(n - at)
    if change.shape == "gradual":
        ramp = np.minimum((np.arange(n - at) + 1) / RAMP, 1.0)
    X[at:, j] = X[at:, j] * (1.0 + (change.scale - 1.0) * ramp) + change.shift * ramp
    return Stream("covariate", change.name, seed, Blocks(X, NUMERIC_NAMES), "numeric", at, horizon,
                  change.effect, change.shape, note=f"feature {NUMERIC_NAMES[j]}")



# ---------------------------------------------------------------- categorical shift


@dataclasses.dataclass(frozen=True)
class CategoricalChange:
    name: str
    effect: str
    feature: str
    after: tuple[float, ...] | None = None  # new probabilities of the feature's categories
    unseen: float = 0.0  # share of values replaced by categories never seen before


CATEGORICAL_CHANGES = (
    # Total variation distance 0.05, 0.1 and 0.2 from (0.4, 0.3, 0.2, 0.1).
    CategoricalChange("frequencies TV 0.05", "small", "few", after=(0.35, 0.3, 0.2, 0.15)),
    CategoricalChange("frequencies TV 0.1", "medium", "few", after=(0.3, 0.3, 0.2, 0.2)),
    CategoricalChange("frequencies TV 0.2", "large", "few", after=(0.2, 0.3, 0.2, 0.3)),
    CategoricalChange("10% new categories", "medium", "mid", unseen=0.1),
)


def categorical(change: CategoricalChange, seed: int) -> Stream:
    rng = np.random.default_rng(seed)
    at = drift_point(rng)
    n = at + HORIZON
    C = categorical_features(rng, n)
    j = CATEGORICAL_NAMES.index(change.feature)
    labels, _ = CATEGORIES[change.feature]
    m = n - at
    if change.after is not None:
        C[at:, j] = labels[rng.choice(len(labels), p=np.array(change.after), size=m)]
    if change.unseen:
        new = np.array([f"new{k}" for k in range(5)], dtype=object)
        hit = np.flatnonzero(rng.random(m) < change.unseen) + at
        C[hit, j] = new[rng.integers(0, len(new), size=len(hit))]
    return Stream("categorical", change.name, seed, Blocks(categorical=C, categorical_names=CATEGORICAL_NAMES),
                  "categorical", at, HORIZON, change.effect, "abrupt", note=f"feature {change.feature}")


# ---------------------------------------------------------------- joint shift


JOINT_CHANGES = (("correlation +0.5 -> -0.5", "medium", 0.5), ("correlation +0.8 -> -0.8", "large", 0.8))


def joint(name: str, effect: str, rho: float, seed: int) -> Stream:
    """Two normal features whose correlation flips sign: every marginal stays the same."""
    rng = np.random.default_rng(seed)
    at = drift_point(rng)
    n = at + HORIZON
    X = numeric_features(rng, n)
    z = X[:, 1].copy()
    sign = np.where(np.arange(n) < at, 1.0, -1.0)
    X[:, 1] = sign * rho * X[:, 0] + np.sqrt(1.0 - rho * rho) * z
    return Stream("joint", name, seed, Blocks(X, NUMERIC_NAMES), "numeric", at, HORIZON, effect, "abrupt",
                  note="features n0, n1")


# ---------------------------------------------------------------- label shift


LABEL_CHANGES = (("prior 0.5 -> 0.6", "small", 0.6), ("prior 0.5 -> 0.7", "medium", 0.7),
                 ("prior 0.5 -> 0.85", "large", 0.85))


def label_shift(name: str, effect: str, prior_after: float, seed: int) -> Stream:
    """The share of positives moves; each class looks as before (n0 ~ N(+-1, 1)).

    The model predicts ``n0 > 0``, so its error rate stays at about 0.16 while the
    share of predicted positives moves from 0.5 to ``0.16 + 0.68 * prior_after``.
    """
    rng = np.random.default_rng(seed)
    at = drift_point(rng)
    n = at + HORIZON
    prior = np.where(np.arange(n) < at, 0.5, prior_after)
    y = rng.random(n) < prior
    X = numeric_features(rng, n)
    X[:, 0] += np.where(y, 1.0, -1.0)
    predicted = X[:, 0] > 0
    blocks = Blocks(X, NUMERIC_NAMES, prediction=np.where(predicted, "1", "0").astype(object),
                    errors=(predicted != y).astype(np.float64))
    return Stream("label", name, seed, blocks, "prediction", at, HORIZON, effect, "abrupt")


# ---------------------------------------------------------------- catalogue


def scenarios() -> dict[str, list[Scenario]]:
    """Every drift scenario except concept drift (see :mod:`.concept`), by family."""
    out: dict[str, list[Scenario]] = {"covariate": [], "categorical": [], "joint": [], "label": []}
    for c in COVARIATE_CHANGES:
        out["covariate"].append(Scenario("covariate", c.name, "numeric", c.effect, c.shape,
                                         lambda seed, c=c: covariate(c, seed)))
    for c in CATEGORICAL_CHANGES:
        out["categorical"].append(Scenario("categorical", c.name, "categorical", c.effect, "abrupt",
                                           lambda seed, c=c: categorical(c, seed)))
    for name, effect, rho in JOINT_CHANGES:
        out["joint"].append(Scenario("joint", name, "numeric", effect, "abrupt",
                                     lambda seed, a=(name, effect, rho): joint(*a, seed)))
    for name, effect, p in LABEL_CHANGES:
        out["label"].append(Scenario("label", name, "prediction", effect, "abrupt",
                                     lambda seed, a=(name, effect, p): label_shift(*a, seed)))
    return out

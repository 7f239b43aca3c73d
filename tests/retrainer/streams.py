"""Labeled data from river's synthetic streams, as rows, frames and events."""

from __future__ import annotations

import itertools

import pandas as pd
from river.datasets import synth

from driftline.contract import Labeled


def stream_rows(name: str, n: int, seed: int = 7) -> list[tuple[dict, object]]:
    """``n`` rows of a river synthetic stream, feature names as strings."""
    if name == "sea":
        stream = synth.SEA(variant=0, noise=0.05, seed=seed)
    elif name.startswith("agrawal"):
        stream = synth.Agrawal(classification_function=int(name[len("agrawal"):] or 0), seed=seed)
    else:
        raise ValueError(name)
    return [({str(k): v for k, v in x.items()}, y) for x, y in itertools.islice(stream, n)]


def stream_frame(name: str, n: int, seed: int = 7) -> pd.DataFrame:
    records = [{"event_id": f"e{i}", "ts": 1_000 + i, "label": y, **x}
               for i, (x, y) in enumerate(stream_rows(name, n, seed))]
    return pd.DataFrame(records)


def labeled_events(name: str, n: int, model_id: str = "m", start_ts: int = 1_000,
                   seed: int = 7, prefix: str = "e") -> list[Labeled]:
    return [
        Labeled(event_id=f"{prefix}{i}", model_id=model_id, model_version="0", ts=start_ts + i,
                label_ts=start_ts + i + 5, features=x, prediction=y, label=y)
        for i, (x, y) in enumerate(stream_rows(name, n, seed))
    ]

"""Training data as a DataFrame: one row per labeled example, one column per feature.

Examples
--------
>>> from driftline.contract import Labeled
>>> events = [
...     Labeled("e2", "fraud", "1", 20, 25, {"amount": 3.0, "country": "NL"}, 0, 1),
...     Labeled("e1", "fraud", "1", 10, 15, {"amount": 9.5}, 1, 1),
...     Labeled("e1", "fraud", "1", 10, 15, {"amount": 9.5}, 1, 1),  # a redelivery
... ]
>>> df = labeled_frame(events)
>>> list(df.columns)
['event_id', 'ts', 'label', 'amount', 'country']
>>> df[["event_id", "amount", "country"]].values.tolist()
[['e1', 9.5, None], ['e2', 3.0, 'NL']]
>>> feature_columns(df)
['amount', 'country']
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from driftline.contract import Labeled

RESERVED = ("event_id", "ts", "label")


def labeled_frame(events: Iterable[Labeled]) -> pd.DataFrame:
    """Rows ``event_id, ts, label, <features...>`` in time order, one per event_id.

    A feature absent from an event is None. Kafka delivers at least once, so
    a repeated event_id keeps its first copy. A feature that is named like a
    reserved column (``event_id``, ``ts``, ``label``) is left out, since it
    cannot be told apart from that column.
    """
    seen: set[str] = set()
    records = []
    names: dict[str, None] = {}  # insertion-ordered set of feature names
    for ev in events:
        if ev.event_id in seen:
            continue
        seen.add(ev.event_id)
        row = {k: v for k, v in ev.features.items() if k not in RESERVED}
        names.update(dict.fromkeys(row))
        records.append((ev.event_id, ev.ts, ev.label, row))
    # object dtype keeps None as None, and ints, strings and bools as they came.
    columns = {
        "event_id": pd.Series([r[0] for r in records], dtype=object),
        "ts": pd.Series([r[1] for r in records], dtype="int64"),
        "label": pd.Series([r[2] for r in records], dtype=object),
    }
    for name in sorted(names):
        columns[name] = pd.Series([r[3].get(name) for r in records], dtype=object)
    df = pd.DataFrame(columns)
    return df.sort_values("ts", kind="stable").reset_index(drop=True)


def feature_columns(df: pd.DataFrame) -> list[str]:
    """The feature columns of a frame built by :func:`labeled_frame`."""
    return [c for c in df.columns if c not in RESERVED]

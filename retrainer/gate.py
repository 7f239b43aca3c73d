"""The champion/challenger gate: a retrain never replaces a better model.

Challenger and champion are scored on the same holdout, the newest rows of the
window, so the comparison is about the data the model will meet next. Both
must also beat the majority-class baseline: a model that is no better than
always answering the most common label has learned nothing.

Examples
--------
>>> decide(challenger=0.91, champion=0.74, baseline=0.60, margin=0.01).promote
True
>>> print(decide(challenger=0.745, champion=0.74, baseline=0.60, margin=0.01).reason)
rejected: the challenger's holdout accuracy 0.7450 is not at least the champion's 0.7400 plus the margin 0.0100
>>> print(decide(challenger=0.58, champion=None, baseline=0.60, margin=0.01).reason)
rejected: the challenger's holdout accuracy 0.5800 does not beat the majority-class baseline 0.6000
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from driftline.retrainer.model import Model

# Accuracies are ratios of counts; without a tolerance 0.75 >= 0.74 + 0.01
# could fail on the last bit of a float.
_EPS = 1e-9


def time_ordered_split(df: pd.DataFrame, holdout_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sort by ``ts`` and cut off the newest ``holdout_fraction`` as the holdout.

    With two rows or more, both parts get at least one row.

    >>> df = pd.DataFrame({"ts": [5, 1, 4, 2, 3], "label": list("abcde")})
    >>> train, holdout = time_ordered_split(df, 0.4)
    >>> train["ts"].tolist(), holdout["ts"].tolist()
    ([1, 2, 3], [4, 5])
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be between 0 and 1, got {holdout_fraction}")
    ordered = df.sort_values("ts", kind="stable").reset_index(drop=True)
    n = len(ordered)
    n_holdout = min(max(round(n * holdout_fraction), 1), n - 1) if n >= 2 else 0
    cut = n - n_holdout
    return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)


def accuracy(model: Model, df: pd.DataFrame, features: list[str], label: str = "label") -> float:
    """Share of rows of ``df`` where ``model`` predicts ``label``; missing features are None."""
    if len(df) == 0:
        raise ValueError("cannot score a model on no rows")
    # reindex: a champion may know features the window lacks; they read as missing.
    frame = df.reindex(columns=features)
    # Any trainer's model may be asked, so a missing value is None as on the wire, not NaN.
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    predictions = model.predict_many(rows)
    truth = df[label].tolist()
    return sum(p == t for p, t in zip(predictions, truth, strict=True)) / len(truth)


def baseline_accuracy(df: pd.DataFrame, label: str = "label") -> float:
    """Accuracy of always answering the most common label of ``df``.

    >>> baseline_accuracy(pd.DataFrame({"label": [1, 1, 1, 0]}))
    0.75
    """
    if len(df) == 0:
        raise ValueError("no rows to take a baseline on")
    return float(df[label].value_counts().iloc[0] / len(df))


@dataclasses.dataclass(frozen=True)
class GateDecision:
    """Whether the challenger becomes champion, and why, with the figures.

    >>> GateDecision(promote=False, reason="r", challenger=0.5, champion=None, baseline=0.6).promote
    False
    """

    promote: bool
    reason: str
    challenger: float
    champion: float | None
    baseline: float


def decide(challenger: float, champion: float | None, baseline: float, margin: float) -> GateDecision:
    """Promote iff the challenger beats the baseline and, if there is a champion, beats it by ``margin``."""
    figures = dict(challenger=challenger, champion=champion, baseline=baseline)
    ch = f"the challenger's holdout accuracy {challenger:.4f}"
    if not challenger > baseline:
        return GateDecision(False, f"rejected: {ch} does not beat the majority-class baseline {baseline:.4f}",
                            **figures)
    if champion is None:
        return GateDecision(True, f"promoted: {ch} beats the majority-class baseline {baseline:.4f} "
                                  f"and there is no champion", **figures)
    if challenger - champion < margin - _EPS:
        return GateDecision(False, f"rejected: {ch} is not at least the champion's {champion:.4f} "
                                   f"plus the margin {margin:.4f}", **figures)
    return GateDecision(True, f"promoted: {ch} beats the champion's {champion:.4f} by "
                              f"{challenger - champion:.4f} (margin {margin:.4f}) and the majority-class "
                              f"baseline {baseline:.4f}", **figures)

"""The champion/challenger gate: a retrain never replaces a better model.

Challenger and champion answer the same holdout, the newest rows of the
window, so the comparison is about the data the model will meet next. The
challenger is promoted only if it is better *with statistical support*:

- ``gain`` is the challenger's improvement on the gate metric (its score minus
  the other's for accuracy and F1; the other's loss minus its loss for log
  loss, MAE and RMSE), so a positive gain is always better;
- ``lower`` is the one-sided lower confidence bound of the gain at level
  ``confidence``: the ``1 - confidence`` quantile (order statistic at or below
  it) of the gains over ``n_boot`` paired bootstrap resamples of the holdout
  rows (the same rows for both models, drawn with a seeded generator);
- the challenger wins iff ``lower > margin``; on accuracy it must also pass
  McNemar's test: the one-sided mid-p-value of its wins over the other's
  wins on the rows where exactly one of them is right must be below
  ``1 - confidence``. (The exact test guards small holdouts, where the
  percentile bootstrap is too hopeful; the bound carries the margin.)

The other model is the champion when there is one that can be scored, else
the trivial baseline (the holdout's majority class, with the holdout's
class shares as probabilities for log loss, or its mean for MAE and RMSE),
against which the margin is 0: the challenger must have learned something.

Log loss needs probabilities: a model that offers ``predict_proba_many`` or
``predict_proba_one`` (a mapping label -> probability) is asked for them; a
model that does not is scored as if certain of each answer, so every wrong
answer costs ``-log(1e-15) = 34.5`` (probabilities are clipped to 1e-15).

Examples
--------
McNemar on a table with 10 rows only the challenger gets right and 2 only the
champion does: the exact one-sided p-value is 79/4096, the mid-p 46/4096.

>>> round(mcnemar(10, 2, mid_p=False), 6), round(mcnemar(10, 2), 6)
(0.019287, 0.01123)

A challenger right on 90 of 100 holdout rows against a champion right on 60 of
them: 30 rows only the challenger gets right and none only the champion, so
McNemar's mid-p-value is 2**-31:

>>> y = [1] * 100
>>> champion = Answers(labels=[1] * 60 + [0] * 40)
>>> challenger = Answers(labels=[1] * 90 + [0] * 10)
>>> d = decide("accuracy", y, challenger, champion, margin=0.05, confidence=0.95)
>>> d.promote, d.comparison.gain, d.comparison.lower > 0.05
(True, 0.3, True)
>>> print(d.reason)
promoted: the challenger's holdout accuracy 0.9000 beats the champion's 0.6000 by more than the margin 0.0500 with 95% confidence (gain 0.3000, lower bound 0.2300, McNemar mid-p 4.7e-10, n=100)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from driftline.retrainer.learners.model import Model
from driftline.settings import GATE_METRICS

METRICS = GATE_METRICS  # accuracy, f1, log_loss, mae, rmse
CLASSIFICATION_METRICS = ("accuracy", "f1", "log_loss")
REGRESSION_METRICS = ("mae", "rmse")
_NAMES = {"accuracy": "accuracy", "f1": "F1", "log_loss": "log loss", "mae": "MAE", "rmse": "RMSE"}
_LOSSES = ("log_loss", "mae", "rmse")
N_BOOT = 2000
SEED = 0
# Log loss of a probability of 0: clipped like this, as most libraries do.
_PROB_FLOOR = 1e-15
# Bootstrap resamples drawn at once: (chunk x rows) counts stay a few MB.
_CHUNK = 128


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


def rows_of(df: pd.DataFrame, features: list[str]) -> list[dict]:
    """The rows of ``df`` as dicts of ``features``; a missing or unknown feature is None."""
    # reindex: a champion may know features the window lacks; they read as missing.
    frame = df.reindex(columns=features)
    # Any trainer's model may be asked, so a missing value is None as on the wire, not NaN.
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def accuracy(model: Model, df: pd.DataFrame, features: list[str], label: str = "label") -> float:
    """Share of rows of ``df`` where ``model`` predicts ``label``; missing features are None."""
    if len(df) == 0:
        raise ValueError("cannot score a model on no rows")
    predictions = model.predict_many(rows_of(df, features))
    truth = df[label].tolist()
    return sum(p == t for p, t in zip(predictions, truth, strict=True)) / len(truth)


def majority(labels: Sequence[Any]) -> Any:
    """The most common label; ties go to the one first in sorted (type, text) order.

    >>> majority(["b", "a", "b", "a", "c"])
    'a'
    """
    counts: dict[Any, int] = {}
    for v in labels:
        counts[v] = counts.get(v, 0) + 1
    return min(counts, key=lambda v: (-counts[v], type(v).__name__, str(v)))


def baseline_accuracy(df: pd.DataFrame, label: str = "label") -> float:
    """Accuracy of always answering the most common label of ``df``.

    >>> baseline_accuracy(pd.DataFrame({"label": [1, 1, 1, 0]}))
    0.75
    """
    if len(df) == 0:
        raise ValueError("no rows to take a baseline on")
    return float(df[label].value_counts().iloc[0] / len(df))


def mcnemar(wins: int, losses: int, mid_p: bool = True) -> float:
    """One-sided McNemar p-value that the challenger is no better than the other model.

    ``wins``: rows only the challenger gets right; ``losses``: rows only the
    other model gets right. Under the null hypothesis each of these
    discordant rows is a win with probability 1/2, so the exact p-value is
    ``P(X >= wins)`` for ``X ~ Binomial(wins + losses, 1/2)``; the mid-p-value
    counts ``P(X = wins)`` half (Fagerland, Lydersen and Laake, 2013). With no
    discordant rows the mid-p-value is 0.5 and the exact one 1.

    >>> mcnemar(0, 0), mcnemar(3, 0, mid_p=False)
    (0.5, 0.125)
    """
    if wins < 0 or losses < 0:
        raise ValueError(f"wins and losses must be counts >= 0, got {wins} and {losses}")
    n = wins + losses
    tail = float(stats.binom.sf(wins, n, 0.5))  # P(X > wins)
    at = float(stats.binom.pmf(wins, n, 0.5))
    return tail + (0.5 * at if mid_p else at)


@dataclasses.dataclass(frozen=True)
class Answers:
    """What one model answered on the holdout: labels (or numbers), and class probabilities if any."""

    labels: list
    probabilities: list[Mapping[Any, float]] | None = None


def answers(model: Model, df: pd.DataFrame, features: list[str], metric: str) -> Answers:
    """Ask ``model`` about the rows of ``df``; for log loss, for probabilities too.

    A model whose ``predict_proba_*`` is missing, or raises AttributeError or
    NotImplementedError, gives no probabilities (see the module docstring).
    """
    if len(df) == 0:
        raise ValueError("cannot score a model on no rows")
    rows = rows_of(df, features)
    labels = list(model.predict_many(rows))
    if len(labels) != len(rows):
        raise ValueError(f"the model answered {len(labels)} of {len(rows)} rows")
    probabilities = None
    if metric == "log_loss":
        probabilities = _probabilities(model, rows)
    return Answers(labels, probabilities)


def _probabilities(model: Any, rows: list[dict]) -> list[Mapping[Any, float]] | None:
    try:
        if hasattr(model, "predict_proba_many"):
            out = list(model.predict_proba_many(rows))
        elif hasattr(model, "predict_proba_one"):
            out = [model.predict_proba_one(x) for x in rows]
        else:
            return None
    except (AttributeError, NotImplementedError):
        return None
    if len(out) != len(rows):
        raise ValueError(f"the model gave probabilities for {len(out)} of {len(rows)} rows")
    return out


def trivial(metric: str, y: Sequence[Any]) -> Answers:
    """The baseline's answers: the majority class (with the class shares), or the mean."""
    if metric in REGRESSION_METRICS:
        mean = float(np.mean(np.asarray(y, dtype=np.float64)))
        return Answers([mean] * len(y))
    top = majority(y)
    shares: dict[Any, float] = {}
    for v in y:
        shares[v] = shares.get(v, 0) + 1 / len(y)
    return Answers([top] * len(y), [shares] * len(y) if metric == "log_loss" else None)


# ------------------------------------------------------------------ metrics as means of row statistics
#
# Every metric here is a function of the means of a few per-row statistics
# (accuracy: hits; F1: per-class true/false positives and false negatives;
# the losses: per-row losses). A bootstrap resample only reweights rows, so
# each replicate is one matrix product of resample counts with those statistics.


def _row_stats(metric: str, y: Sequence[Any], a: Answers) -> np.ndarray:
    if metric == "accuracy":
        return np.array([[p == t] for p, t in zip(a.labels, y, strict=True)], dtype=np.float64)
    if metric == "f1":
        classes = _f1_classes(y)
        out = np.zeros((len(y), 3 * len(classes)))
        for k, c in enumerate(classes):
            truth = np.array([t == c for t in y])
            said = np.array([p == c for p in a.labels])
            out[:, 3 * k] = truth & said
            out[:, 3 * k + 1] = ~truth & said
            out[:, 3 * k + 2] = truth & ~said
        return out
    if metric == "log_loss":
        if a.probabilities is None:
            p = np.array([1.0 if l == t else 0.0 for l, t in zip(a.labels, y, strict=True)])
        else:
            p = np.array([_prob_of(d, t) for d, t in zip(a.probabilities, y, strict=True)])
        return -np.log(np.clip(p, _PROB_FLOOR, 1.0))[:, None]
    err = np.asarray(a.labels, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return (np.abs(err) if metric == "mae" else err ** 2)[:, None]


def _f1_classes(y: Sequence[Any]) -> list:
    """Binary 0/1 or False/True labels: F1 of the positive class; else macro F1 over the labels seen."""
    present = set(y)
    if present <= {0, 1} and len(present) >= 1 and all(isinstance(v, (bool, int, np.integer)) for v in present):
        return [1]
    return sorted(present, key=lambda v: (type(v).__name__, str(v)))


def _prob_of(probabilities: Mapping[Any, float], label: Any) -> float:
    total = sum(float(v) for v in probabilities.values())
    p = probabilities.get(label)
    if p is None:  # e.g. "1" for 1: compare as a person would
        p = next((v for k, v in probabilities.items() if str(k).lower() == str(label).lower()), 0.0)
    return float(p) / total if total > 0 else 0.0


def _value(metric: str, means: np.ndarray) -> np.ndarray:
    """The metric from the means of its row statistics (last axis)."""
    if metric == "f1":
        tp, fp, fn = means[..., 0::3], means[..., 1::3], means[..., 2::3]
        denominator = 2 * tp + fp + fn
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(denominator > 0, 2 * tp / denominator, 0.0)
        return f1.mean(axis=-1)
    if metric == "rmse":
        return np.sqrt(means[..., 0])
    return means[..., 0]


def score(metric: str, y: Sequence[Any], a: Answers) -> float:
    """The metric of answers ``a`` against truth ``y``.

    >>> score("f1", [1, 1, 0, 0], Answers([1, 0, 1, 0])), score("rmse", [0.0, 0.0], Answers([3.0, 4.0]))
    (0.5, 3.5355339059327378)
    """
    _check(metric)
    return float(_value(metric, _row_stats(metric, y, a).mean(axis=0)))


def _check(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown gate metric {metric!r}; choose one of {', '.join(METRICS)}")


def paired_bootstrap(metric: str, y: Sequence[Any], challenger: Answers, other: Answers,
                     n_boot: int = N_BOOT, seed: int = SEED) -> np.ndarray:
    """``n_boot`` gains of the challenger over ``other``, each on the same resample of the rows.

    When every row gains the same, so does every resample:

    >>> gains = paired_bootstrap("mae", [0.0] * 5, Answers([1.0] * 5), Answers([3.0] * 5), n_boot=50)
    >>> sorted(set(gains.tolist()))
    [2.0]
    """
    _check(metric)
    a, b = _row_stats(metric, y, challenger), _row_stats(metric, y, other)
    S = np.hstack([a, b])
    n, q = len(y), a.shape[1]
    rng = np.random.default_rng(seed)
    gains = np.empty(n_boot)
    for lo in range(0, n_boot, _CHUNK):
        m = min(_CHUNK, n_boot - lo)
        draws = rng.integers(0, n, size=(m, n)) + (np.arange(m) * n)[:, None]
        counts = np.bincount(draws.ravel(), minlength=m * n).reshape(m, n)
        means = counts @ S / n
        va, vb = _value(metric, means[:, :q]), _value(metric, means[:, q:])
        gains[lo:lo + m] = vb - va if metric in _LOSSES else va - vb
    return gains


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The challenger against one other model (the champion or the baseline) on the holdout."""

    metric: str
    against: str  # "champion" | "baseline"
    challenger: float
    other: float
    gain: float  # positive: the challenger is better
    lower: float  # one-sided lower confidence bound of the gain
    p_value: float | None  # McNemar's mid-p (accuracy only)
    n: int
    margin: float
    confidence: float

    @property
    def supported(self) -> bool:
        alpha = 1 - self.confidence
        return self.lower > self.margin and (self.p_value is None or self.p_value < alpha)

    def evidence(self) -> str:
        p = "" if self.p_value is None else f", McNemar mid-p {self.p_value:.2g}"
        return f"gain {self.gain:.4f}, lower bound {self.lower:.4f}{p}, n={self.n}"


def compare(metric: str, y: Sequence[Any], challenger: Answers, other: Answers, *, against: str,
            margin: float, confidence: float, n_boot: int = N_BOOT, seed: int = SEED) -> Comparison:
    """Score both, bootstrap the gain, and (on accuracy) run McNemar's test."""
    _check(metric)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if len(y) == 0:
        raise ValueError("cannot compare models on no rows")
    s_chal, s_other = score(metric, y, challenger), score(metric, y, other)
    gains = paired_bootstrap(metric, y, challenger, other, n_boot, seed)
    lower = float(np.quantile(gains, 1 - confidence, method="lower"))
    p_value = None
    if metric == "accuracy":
        right_a = [p == t for p, t in zip(challenger.labels, y)]
        right_b = [p == t for p, t in zip(other.labels, y)]
        wins = sum(a and not b for a, b in zip(right_a, right_b))
        losses = sum(b and not a for a, b in zip(right_a, right_b))
        p_value = mcnemar(wins, losses)
    gain = s_other - s_chal if metric in _LOSSES else s_chal - s_other
    return Comparison(metric, against, s_chal, s_other, _tidy(gain), _tidy(lower), p_value, len(y),
                      margin, confidence)


def _tidy(x: float) -> float:
    # Differences of ratios of counts: 0.9 - 0.6 should read 0.3, not 0.30000000000000004.
    return round(x, 12)


@dataclasses.dataclass(frozen=True)
class GateDecision:
    """Whether the challenger becomes champion, why, and the figures behind it.

    ``comparison`` is the test that decided: against the champion if there is
    one that could be scored, else against the baseline.
    """

    promote: bool
    reason: str
    metric: str
    challenger: float
    champion: float | None
    baseline: float
    comparison: Comparison

    def figures(self) -> dict[str, Any]:
        """Plain data for the version's metrics."""
        c = self.comparison
        return {"metric": self.metric, "challenger": self.challenger, "champion": self.champion,
                "baseline": self.baseline, "against": c.against, "gain": c.gain,
                "lower_bound": c.lower, "p_value": c.p_value, "n": c.n, "margin": c.margin,
                "confidence": c.confidence, "n_boot": N_BOOT, "promote": self.promote}


def margin_phrase(margin: float, how: str) -> str:
    """`` {how} the margin 0.0100`` for a reason, or nothing when there is no margin.

    >>> margin_phrase(0.01, "by more than"), margin_phrase(0.0, "plus")
    (' by more than the margin 0.0100', '')
    """
    return f" {how} the margin {margin:.4f}" if margin > 0 else ""


def decide(metric: str, y: Sequence[Any], challenger: Answers, champion: Answers | None,
           margin: float, confidence: float, *, n_boot: int = N_BOOT, seed: int = SEED) -> GateDecision:
    """Promote iff the challenger beats the champion by more than ``margin`` (or, with no
    champion, the trivial baseline by more than 0) with support at ``confidence``."""
    _check(metric)
    if margin < 0 or not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number >= 0, got {margin}")
    y = list(y)
    base = trivial(metric, y)
    baseline = score(metric, y, base)
    pct = f"{100 * confidence:g}%"
    name = _NAMES[metric]
    if champion is None:
        c = compare(metric, y, challenger, base, against="baseline", margin=0.0,
                    confidence=confidence, n_boot=n_boot, seed=seed)
        kind = "mean" if metric in REGRESSION_METRICS else "majority-class"
        head = f"the challenger's holdout {name} {c.challenger:.4f}"
        if c.supported:
            reason = (f"promoted: {head} beats the {kind} baseline {baseline:.4f} with {pct} confidence "
                      f"({c.evidence()}) and there is no champion")
        else:
            reason = (f"rejected: {head} does not beat the {kind} baseline {baseline:.4f} with {pct} "
                      f"confidence ({c.evidence()})")
        return GateDecision(c.supported, reason, metric, c.challenger, None, baseline, c)
    c = compare(metric, y, challenger, champion, against="champion", margin=margin,
                confidence=confidence, n_boot=n_boot, seed=seed)
    head = f"the challenger's holdout {name} {c.challenger:.4f}"
    if c.supported:
        reason = (f"promoted: {head} beats the champion's {c.other:.4f}"
                  f"{margin_phrase(margin, 'by more than')} with {pct} confidence ({c.evidence()})")
    else:
        reason = (f"rejected: {head} is not above the champion's {c.other:.4f}"
                  f"{margin_phrase(margin, 'plus')} with {pct} confidence ({c.evidence()})")
    return GateDecision(c.supported, reason, metric, c.challenger, c.other, baseline, c)

"""The gate: time-ordered holdout, the metrics, McNemar's test, the paired bootstrap, the promotion rule."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from driftline.retrainer.evaluation.gate import (
    METRICS,
    Answers,
    accuracy,
    answers,
    baseline_accuracy,
    compare,
    decide,
    majority,
    mcnemar,
    paired_bootstrap,
    score,
    time_ordered_split,
    trivial,
)


class Echo:
    """A model that answers with feature "x", and remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list[dict] = []

    def predict_one(self, x: dict) -> object:
        self.asked.append(x)
        return x.get("x")

    def predict_many(self, rows: list[dict]) -> list:
        return [self.predict_one(x) for x in rows]


class Sure(Echo):
    """Echo, with probability ``p`` on its answer and the rest on "other"."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def predict_proba_many(self, rows: list[dict]) -> list[dict]:
        return [{x.get("x"): self.p, "other": 1 - self.p} for x in rows]


class NoProbabilities(Echo):
    def predict_proba_one(self, x: dict) -> dict:
        raise AttributeError("this estimator gives no probabilities")


def outcomes(n: int, both: int, wins: int, losses: int) -> tuple[list, Answers, Answers]:
    """Truth and two models' answers on ``n`` rows: ``both`` rows both get right, ``wins`` only
    the challenger, ``losses`` only the other; on the rest both are wrong."""
    neither = n - both - wins - losses
    y = [1] * n
    challenger = [1] * both + [1] * wins + [0] * losses + [0] * neither
    other = [1] * both + [0] * wins + [1] * losses + [0] * neither
    return y, Answers(challenger), Answers(other)


# ------------------------------------------------------------------ the holdout


def test_the_holdout_is_the_newest_rows() -> None:
    df = pd.DataFrame({"ts": [9, 3, 7, 1, 5, 2, 8, 4, 6, 0], "label": range(10)})
    train, holdout = time_ordered_split(df, 0.3)
    assert train["ts"].tolist() == list(range(7))
    assert holdout["ts"].tolist() == [7, 8, 9]
    assert list(holdout.index) == [0, 1, 2]


@pytest.mark.parametrize("n, fraction, sizes", [
    (0, 0.3, (0, 0)), (1, 0.3, (1, 0)), (2, 0.01, (1, 1)), (2, 0.99, (1, 1)), (1000, 0.25, (750, 250)),
])
def test_split_sizes(n: int, fraction: float, sizes: tuple[int, int]) -> None:
    train, holdout = time_ordered_split(pd.DataFrame({"ts": range(n), "label": [0] * n}), fraction)
    assert (len(train), len(holdout)) == sizes


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_split_fraction_must_be_a_fraction(fraction: float) -> None:
    with pytest.raises(ValueError):
        time_ordered_split(pd.DataFrame({"ts": [1, 2], "label": [0, 1]}), fraction)


def test_accuracy_asks_with_none_for_missing_values() -> None:
    df = pd.DataFrame({"x": ["a", "b", None, "d"], "label": ["a", "b", "c", "d"]})
    model = Echo()
    assert accuracy(model, df, ["x", "not_in_window"]) == 0.75
    assert model.asked[2] == {"x": None, "not_in_window": None}
    with pytest.raises(ValueError):
        accuracy(model, df.iloc[:0], ["x"])


def test_baseline_is_the_majority_share() -> None:
    assert baseline_accuracy(pd.DataFrame({"label": ["a", "b", "b", "b", "c"]})) == 0.6
    assert baseline_accuracy(pd.DataFrame({"label": [True] * 4})) == 1.0
    assert majority([2, 1, 2, 1]) == 1  # a tie goes to the first in sorted order


# ------------------------------------------------------------------ McNemar


@pytest.mark.parametrize("wins, losses, exact, mid", [
    # X ~ Binomial(wins + losses, 1/2); exact P(X >= wins), mid-p P(X > wins) + P(X = wins) / 2
    (10, 2, 79 / 4096, 46 / 4096),  # P(X=10..12) = (66 + 12 + 1) / 4096
    (5, 2, 29 / 128, 18.5 / 128),  # P(X=5..7) = (21 + 7 + 1) / 128
    (3, 0, 1 / 8, 1 / 16),
    (0, 5, 1.0, 1 - 1 / 64),
    (4, 4, 163 / 256, 0.5),  # a tie is exactly one half on the mid-p scale
    (0, 0, 1.0, 0.5),
])
def test_mcnemar_on_tables_checked_by_hand(wins: int, losses: int, exact: float, mid: float) -> None:
    assert mcnemar(wins, losses, mid_p=False) == pytest.approx(exact, rel=1e-12)
    assert mcnemar(wins, losses) == pytest.approx(mid, rel=1e-12)


def test_mcnemar_needs_counts() -> None:
    with pytest.raises(ValueError, match="counts >= 0"):
        mcnemar(-1, 3)


# ------------------------------------------------------------------ metrics


def test_scores_checked_by_hand() -> None:
    y = [1, 1, 0, 0]
    assert score("accuracy", y, Answers([1, 0, 0, 0])) == 0.75
    # F1 of the positive class: tp 1, fp 1, fn 1 -> 2 / 4
    assert score("f1", y, Answers([1, 0, 1, 0])) == 0.5
    # macro F1 over the labels: a 2/(2+1+1), b 4/(4+1+0), c 0 -> (0.5 + 0.8 + 0) / 3
    assert score("f1", list("aabbc"), Answers(list("abbba"))) == pytest.approx(1.3 / 3)
    assert score("log_loss", ["a", "b"], Answers(["a", "a"], [{"a": 0.8, "b": 0.2}] * 2)) == \
        pytest.approx((-math.log(0.8) - math.log(0.2)) / 2)
    assert score("mae", [1.0, 2.0], Answers([2.0, 0.0])) == 1.5
    assert score("rmse", [0.0, 0.0], Answers([3.0, 4.0])) == pytest.approx(math.sqrt(12.5))


def test_log_loss_without_probabilities_is_sure_of_each_answer() -> None:
    # Right: -log(1) = 0; wrong: -log(1e-15), the clip.
    assert score("log_loss", [1, 1], Answers([1, 0])) == pytest.approx(-math.log(1e-15) / 2)


def test_answers_ask_for_probabilities_only_for_log_loss() -> None:
    df = pd.DataFrame({"x": ["a", "b"], "label": ["a", "c"]})
    for metric in ("accuracy", "f1"):
        assert answers(Sure(0.9), df, ["x"], metric).probabilities is None
    got = answers(Sure(0.9), df, ["x"], "log_loss")
    assert got.labels == ["a", "b"] and got.probabilities == [{"a": 0.9, "other": pytest.approx(0.1)},
                                                             {"b": 0.9, "other": pytest.approx(0.1)}]
    assert answers(NoProbabilities(), df, ["x"], "log_loss").probabilities is None
    assert answers(Echo(), df, ["x"], "log_loss").probabilities is None


def test_the_trivial_baseline() -> None:
    assert trivial("accuracy", ["a", "b", "b"]).labels == ["b"] * 3
    shares = trivial("log_loss", ["a", "b", "b", "b"]).probabilities[0]
    assert shares == {"a": 0.25, "b": 0.75}
    assert trivial("rmse", [1.0, 2.0, 6.0]).labels == [3.0] * 3


@pytest.mark.parametrize("metric", ["nope", "AUC"])
def test_unknown_metrics_are_named(metric: str) -> None:
    with pytest.raises(ValueError, match="unknown gate metric"):
        score(metric, [1], Answers([1]))


# ------------------------------------------------------------------ the paired bootstrap


def test_the_bootstrap_is_paired_and_seeded() -> None:
    # Every row gains exactly 2, so every resample does: pairing, not two independent samples.
    gains = paired_bootstrap("mae", [0.0] * 30, Answers([1.0] * 30), Answers([3.0] * 30), n_boot=300)
    assert set(gains.tolist()) == {2.0}
    y, a, b = outcomes(200, 100, 30, 10)
    first = paired_bootstrap("accuracy", y, a, b, n_boot=500, seed=1)
    assert np.array_equal(first, paired_bootstrap("accuracy", y, a, b, n_boot=500, seed=1))
    assert not np.array_equal(first, paired_bootstrap("accuracy", y, a, b, n_boot=500, seed=2))
    # Gains are differences of counts over n; they centre on the observed 20/200.
    assert set(np.round(first * 200, 9)) <= set(range(-200, 201))
    assert abs(first.mean() - 0.1) < 0.01


def test_the_bound_is_the_lower_tail_quantile() -> None:
    y, a, b = outcomes(200, 100, 30, 10)
    c = compare("accuracy", y, a, b, against="champion", margin=0.0, confidence=0.9)
    gains = paired_bootstrap("accuracy", y, a, b)
    assert c.lower == pytest.approx(np.quantile(gains, 0.1, method="lower"))
    assert c.lower < c.gain == 0.1


# ------------------------------------------------------------------ the decision


def test_no_champion_the_challenger_must_beat_the_majority_with_support() -> None:
    y = [1] * 60 + [0] * 40
    good = decide("accuracy", y, Answers(y[:90] + [1] * 10), None, margin=0.01, confidence=0.95)
    assert good.promote and good.reason.startswith("promoted: ")
    assert "beats the majority-class baseline 0.6000" in good.reason and "no champion" in good.reason
    assert (good.challenger, good.champion, good.baseline) == (0.9, None, 0.6)
    assert good.comparison.against == "baseline" and good.comparison.margin == 0.0
    same = decide("accuracy", y, Answers([1] * 100), None, margin=0.0, confidence=0.95)
    assert not same.promote
    assert "does not beat the majority-class baseline 0.6000 with 95% confidence" in same.reason
    assert "gain 0.0000" in same.reason and "McNemar mid-p 0.5" in same.reason


def test_a_small_gain_on_few_rows_is_not_enough() -> None:
    # 74% vs 80%: a gain of 6 points is above the margin, but 5 wins to 2 losses is chance.
    y, challenger, champion = outcomes(50, 35, 5, 2)
    d = decide("accuracy", y, challenger, champion, margin=0.01, confidence=0.95)
    assert (d.challenger, d.champion) == (0.8, 0.74) and d.comparison.gain == 0.06
    assert d.comparison.p_value == pytest.approx(18.5 / 128)
    assert not d.promote
    assert "is not above the champion's 0.7400 plus the margin 0.0100 with 95% confidence" in d.reason
    # The same gain on ten times the rows is.
    y, challenger, champion = outcomes(500, 350, 50, 20)
    assert decide("accuracy", y, challenger, champion, margin=0.01, confidence=0.95).promote


def test_with_no_margin_the_reason_speaks_of_confidence_alone() -> None:
    y, challenger, champion = outcomes(500, 350, 50, 20)
    promoted = decide("accuracy", y, challenger, champion, margin=0.0, confidence=0.95)
    assert promoted.promote and "margin" not in promoted.reason
    assert promoted.reason.startswith("promoted: the challenger's holdout accuracy 0.8000 beats the "
                                      "champion's 0.7400 with 95% confidence (gain 0.0600")
    y, challenger, champion = outcomes(50, 35, 5, 2)
    rejected = decide("accuracy", y, challenger, champion, margin=0.0, confidence=0.95)
    assert not rejected.promote and "margin" not in rejected.reason
    assert "is not above the champion's 0.7400 with 95% confidence" in rejected.reason


def test_the_lower_bound_must_clear_the_margin() -> None:
    # 60 wins to 20 losses on 1000 rows: McNemar is sure, the gain is 0.04, its 95% bound about 0.025.
    y, challenger, champion = outcomes(1000, 700, 60, 20)
    strict = decide("accuracy", y, challenger, champion, margin=0.03, confidence=0.95)
    assert strict.comparison.p_value < 1e-5 and 0.02 < strict.comparison.lower < 0.03
    assert not strict.promote
    assert decide("accuracy", y, challenger, champion, margin=0.02, confidence=0.95).promote
    # A higher confidence asks for a lower bound further down the tail.
    assert decide("accuracy", y, challenger, champion, margin=0.02, confidence=0.999).comparison.lower < 0.02


def test_losses_gain_when_they_fall() -> None:
    y = [float(i % 7) for i in range(300)]
    close = Answers([v + 0.1 for v in y])
    far = Answers([v + 1.0 for v in y])
    for metric in ("mae", "rmse"):
        d = decide(metric, y, close, far, margin=0.5, confidence=0.95)
        assert d.promote and d.comparison.gain == pytest.approx(0.9)
        assert d.comparison.p_value is None
        assert not decide(metric, y, far, close, margin=0.0, confidence=0.95).promote
    no_champion = decide("rmse", y, close, None, margin=0.0, confidence=0.95)
    assert no_champion.promote and "beats the mean baseline" in no_champion.reason


def test_log_loss_prefers_calibrated_probabilities() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b"], size=400, p=[0.7, 0.3]).tolist()
    # Both always say "a"; one is 70% sure (calibrated), the other 100% sure.
    calibrated = Answers(["a"] * 400, [{"a": 0.7, "b": 0.3}] * 400)
    certain = Answers(["a"] * 400)
    assert decide("log_loss", y, calibrated, certain, margin=0.1, confidence=0.95).promote
    assert not decide("log_loss", y, certain, calibrated, margin=0.0, confidence=0.95).promote


def test_f1_sees_what_accuracy_does_not() -> None:
    # A rare positive class: answering 0 everywhere has 95% accuracy and F1 0.
    y = [1] * 20 + [0] * 380
    finds_them = Answers([1] * 18 + [0] * 2 + [1] * 10 + [0] * 370)
    d = decide("f1", y, finds_them, Answers([0] * 400), margin=0.2, confidence=0.95)
    assert d.promote and d.champion == 0.0 and d.challenger == pytest.approx(36 / 48)
    assert not decide("accuracy", y, finds_them, Answers([0] * 400), margin=0.0, confidence=0.95).promote


def test_figures_for_the_registry() -> None:
    y, challenger, champion = outcomes(500, 350, 50, 20)
    figures = decide("accuracy", y, challenger, champion, margin=0.01, confidence=0.95).figures()
    assert set(figures) == {"metric", "challenger", "champion", "baseline", "against", "gain",
                            "lower_bound", "p_value", "n", "margin", "confidence", "n_boot", "promote"}
    assert (figures["metric"], figures["against"], figures["n"], figures["promote"]) == \
        ("accuracy", "champion", 500, True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(metric="auc"), "unknown gate metric 'auc'"),
    (dict(margin=-0.1), "margin must be"),
    (dict(confidence=1.0), "confidence must be between 0 and 1"),
])
def test_bad_gate_arguments(kwargs: dict, message: str) -> None:
    args = dict(metric="accuracy", y=[1, 0], challenger=Answers([1, 0]), champion=None, margin=0.0,
                confidence=0.95) | kwargs
    with pytest.raises(ValueError, match=message):
        decide(**args)


def test_every_metric_decides() -> None:
    y = [0, 1] * 50
    for metric in METRICS:
        got = decide(metric, y, Answers(list(y)), Answers([0] * 100), margin=0.0, confidence=0.95)
        assert got.promote, metric

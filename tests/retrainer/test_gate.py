"""The gate: time-ordered holdout, accuracy, baseline, and the promotion rule."""

from __future__ import annotations

import pandas as pd
import pytest

from driftline.retrainer.gate import GateDecision, accuracy, baseline_accuracy, decide, time_ordered_split


class Echo:
    """A model that answers with feature "x", and remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list[dict] = []

    def predict_one(self, x: dict) -> object:
        self.asked.append(x)
        return x.get("x")

    def predict_many(self, rows: list[dict]) -> list:
        return [self.predict_one(x) for x in rows]


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


@pytest.mark.parametrize("challenger, champion, baseline, margin, promote, words", [
    (0.90, None, 0.60, 0.01, True, "there is no champion"),
    (0.60, None, 0.60, 0.01, False, "does not beat the majority-class baseline 0.6000"),
    (0.55, None, 0.60, 0.00, False, "does not beat the majority-class baseline"),
    (0.91, 0.74, 0.60, 0.01, True, "beats the champion's 0.7400 by 0.1700"),
    (0.75, 0.74, 0.60, 0.01, True, "by 0.0100 (margin 0.0100)"),  # exactly the margin
    (0.749, 0.74, 0.60, 0.01, False, "not at least the champion's 0.7400 plus the margin 0.0100"),
    (0.74, 0.74, 0.60, 0.00, True, "beats the champion's"),
    (0.70, 0.95, 0.80, 0.01, False, "does not beat the majority-class baseline"),  # baseline first
])
def test_decide(challenger: float, champion: float | None, baseline: float, margin: float,
                promote: bool, words: str) -> None:
    decision = decide(challenger, champion, baseline, margin)
    assert decision == GateDecision(promote, decision.reason, challenger, champion, baseline)
    assert decision.reason.startswith("promoted: " if promote else "rejected: ")
    assert words in decision.reason

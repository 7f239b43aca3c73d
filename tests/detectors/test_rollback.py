"""The rollback test of a promoted version against its gate score."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from driftline.detectors.rollback import RollbackCheck

ACC = {"metric": "accuracy", "value": 0.93, "n": 400}


def test_a_version_far_below_its_gate_score_is_rolled_back_after_exactly_n_events():
    check = RollbackCheck("5", ACC, events=300)
    rng = np.random.default_rng(0)
    outcomes = (rng.random(500) < 0.7).astype(float)
    outcomes[:10] = np.nan  # labels of unknown outcome are not counted
    verdict = check.update(outcomes)
    assert verdict.rollback and verdict.n_live == 300
    assert verdict.batch_index == 309  # the 300th known outcome
    assert verdict.live == pytest.approx(np.nanmean(outcomes[10:310]))
    assert verdict.live < verdict.bound < 0.93
    assert check.update(np.zeros(1000)) is None  # decided once; later events change nothing
    assert check.verdict is verdict


def test_the_verdict_does_not_depend_on_how_the_events_are_batched():
    rng = np.random.default_rng(1)
    outcomes = rng.normal(size=2000)
    score = {"metric": "mae", "value": 0.8, "std": 0.6, "n": 400}
    whole = RollbackCheck("3", score, events=1000).update(outcomes)
    pieces = RollbackCheck("3", score, events=1000)
    got = [pieces.update(outcomes[k:k + 7]) for k in range(0, 2000, 7)]
    [verdict] = [v for v in got if v is not None]
    assert verdict.live == whole.live and verdict.rollback == whole.rollback
    assert 7 * got.index(verdict) + verdict.batch_index == whole.batch_index


@pytest.mark.parametrize("confidence", [0.9, 0.99])
def test_a_version_as_good_live_as_on_its_holdout_is_rolled_back_at_about_one_minus_confidence(confidence):
    # Holdout and live traffic drawn from the same accuracy: the only differences are
    # sampling errors, of the holdout's 400 rows and of the 1000 live events.
    rng = np.random.default_rng(7)
    trials, p = 4000, 0.9
    rolled = 0
    for k_gate, k_live in zip(rng.binomial(400, p, trials), rng.binomial(1000, p, trials)):
        check = RollbackCheck("2", {"metric": "accuracy", "value": k_gate / 400, "n": 400},
                              events=1000, confidence=confidence)
        rolled += check.update(np.r_[np.ones(k_live), np.zeros(1000 - k_live)]).rollback
    rate, alpha = rolled / trials, 1 - confidence
    se = (alpha * (1 - alpha) / trials) ** 0.5
    assert abs(rate - alpha) < 4 * se + 0.1 * alpha, (rate, alpha)


def test_a_modest_real_drop_is_found_at_the_default_confidence():
    rng = np.random.default_rng(2)
    found = [RollbackCheck("2", ACC).update(rng.random(1000) < 0.83).rollback for _ in range(50)]
    assert sum(found) >= 45
    kept = [RollbackCheck("2", ACC).update(rng.random(1000) < 0.93).rollback for _ in range(50)]
    assert sum(kept) == 0


def test_a_regressor_is_tested_on_its_mean_absolute_error():
    rng = np.random.default_rng(3)
    score = {"metric": "mae", "value": 0.8, "std": 0.6, "n": 400}  # |N(0, 1)|: mean 0.80, sd 0.60
    same = RollbackCheck("4", score, events=1000).update(rng.normal(size=1000))
    worse = RollbackCheck("4", score, events=1000).update(1.5 * rng.normal(size=1000))
    assert not same.rollback and worse.rollback
    assert worse.live > worse.bound > 0.8
    assert "mean absolute error" in worse.message


@pytest.mark.parametrize("score", [
    {}, {"metric": "accuracy", "value": None, "n": 400}, {"metric": "accuracy", "value": 1.5},
    {"metric": "accuracy", "value": 0.9, "n": -3}, {"metric": "mae", "value": 0.8, "n": 400},
    {"metric": "rmse", "value": 0.8, "std": 1.0}, {"metric": "accuracy", "value": True},
    {"metric": "accuracy", "value": float("nan")},
])
def test_a_score_without_what_the_test_needs_gives_no_check(score):
    assert not RollbackCheck.usable(score)
    with pytest.raises(ValueError, match="no gate score to test against") as info:
        RollbackCheck("1", score)
    assert "\n" not in str(info.value)


def test_an_exact_score_needs_no_n_and_arguments_are_checked():
    assert RollbackCheck.usable({"metric": "accuracy", "value": 0.9})
    assert RollbackCheck("1", {"metric": "accuracy", "value": 0.9}).n_gate is None
    with pytest.raises(ValueError, match="events must be an integer >= 1"):
        RollbackCheck("1", ACC, events=0)
    with pytest.raises(ValueError, match="confidence must be a number in"):
        RollbackCheck("1", ACC, confidence=1.0)
    with pytest.raises(ValueError, match="must be 0 or 1"):
        RollbackCheck("1", ACC).update([0.5])


def test_the_count_survives_pickling():
    rng = np.random.default_rng(4)
    outcomes = (rng.random(1000) < 0.8).astype(int)
    straight = RollbackCheck("2", ACC).update(outcomes)
    half = RollbackCheck("2", ACC)
    assert half.update(outcomes[:400]) is None and half.n_seen == 400
    resumed = pickle.loads(pickle.dumps(half)).update(outcomes[400:])
    assert resumed.figures() == straight.figures()
    assert resumed.batch_index == straight.batch_index - 400  # a position in its own batch

import itertools
import re

import pytest
from river.datasets import synth

from driftline.producers.drifts import Drift, Shift
from driftline.producers.streams import STREAMS, make_stream

SEA_THRESHOLD = {0: 8, 1: 9, 2: 7, 3: 9.5}


def sea_agreement(events, concept: int) -> float:
    t = SEA_THRESHOLD[concept]
    return sum(int(x["x0"] + x["x1"] > t) == y for x, y in events) / len(events)


def agrawal_label(function: int, x: dict) -> int:
    rule = getattr(synth.Agrawal, f"_classification_function_{function}")
    return rule(
        x["salary"], x["commission"], x["age"], int(x["elevel"][1:]), int(x["car"][3:]),
        int(x["zipcode"][1:]), x["hvalue"], x["hyears"], x["loan"],
    )


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_same_seed_same_stream(name: str) -> None:
    drifts = [Drift(100), Drift(200, width=50)]
    first = list(make_stream(name, drifts=drifts, seed=11, n=400))
    again = list(make_stream(name, drifts=drifts, seed=11, n=400))
    other = list(make_stream(name, drifts=drifts, seed=12, n=400))
    assert first == again
    assert first != other


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_events_before_the_first_drift_do_not_depend_on_the_schedule(name: str) -> None:
    plain = list(make_stream(name, seed=3, n=300))
    drifted = list(make_stream(name, drifts=[Drift(300), Drift(400, 50)], seed=3, n=300))
    assert plain == drifted


def test_sea_abrupt_drift_changes_the_concept_at_its_index() -> None:
    events = list(make_stream("sea", drifts=[Drift(3000)], seed=5, concepts=[2, 3], n=6000))
    before, after = events[:3000], events[3000:]
    assert sea_agreement(before, 2) == 1.0
    assert sea_agreement(after, 3) == 1.0
    # The rule that was right before the drift is wrong on about a fifth of the events after it.
    assert 0.75 < sea_agreement(after, 2) < 0.85
    assert sea_agreement(events[2990:3000], 2) == 1.0


def test_agrawal_abrupt_drift_changes_the_concept_at_its_index() -> None:
    events = list(make_stream("agrawal", drifts=[Drift(2000)], seed=8, concepts=[0, 2], n=4000))

    def agreement(xs, function):
        return sum(agrawal_label(function, x) == y for x, y in xs) / len(xs)

    assert agreement(events[:2000], 0) > 0.99
    assert agreement(events[2000:], 2) > 0.99
    assert agreement(events[2000:], 0) < 0.6


def test_drifts_walk_through_the_concepts_and_wrap_around() -> None:
    events = list(make_stream("sea", drifts=[Drift(1000), Drift(2000)], seed=2, concepts=[2, 3], n=3000))
    assert sea_agreement(events[:1000], 2) == 1.0
    assert sea_agreement(events[1000:2000], 3) == 1.0
    assert sea_agreement(events[2000:], 2) == 1.0


def test_default_concept_order_starts_with_a_visible_drift() -> None:
    assert STREAMS["sea"].default_order[:2] == (2, 3)
    events = list(make_stream("sea", drifts=[Drift(500)], seed=4, n=1000))
    assert sea_agreement(events[:500], 2) == 1.0
    assert sea_agreement(events[500:], 3) == 1.0


def test_gradual_drift_mixes_the_two_concepts() -> None:
    at, width = 4000, 1000
    events = list(make_stream("sea", drifts=[Drift(at, width)], seed=9, concepts=[2, 3], n=8000))

    def share_new(lo: int, hi: int) -> float:
        # Where 7 < x0 + x1 < 9.5 the two concepts disagree, so the label tells which one drew the event.
        window = [y for x, y in events[lo:hi] if 7 < x["x0"] + x["x1"] < 9.5]
        return sum(1 for y in window if y == 0) / len(window)

    assert share_new(0, at - width) < 0.1
    assert 0.3 < share_new(at - 200, at + 200) < 0.7
    assert share_new(at + width, 8000) > 0.9
    assert 0.03 < share_new(at - width, at - width // 2) < 0.3


def test_gradual_drift_far_from_its_centre_does_not_overflow() -> None:
    events = list(make_stream("sea", drifts=[Drift(10**9, width=5)], seed=1, n=50))
    assert sea_agreement(events, 2) == 1.0


def test_noise_flips_about_that_share_of_labels() -> None:
    clean = list(make_stream("sea", seed=6, n=5000))
    noisy = list(make_stream("sea", seed=6, n=5000, noise=0.1))
    assert [x for x, _ in clean] == [x for x, _ in noisy]
    flipped = sum(a != b for (_, a), (_, b) in zip(clean, noisy)) / 5000
    assert 0.08 < flipped < 0.12


def test_every_stream_has_numeric_and_categorical_features() -> None:
    sea = list(make_stream("sea", seed=0, n=300))
    assert {x["channel"] for x, _ in sea} == {"web", "app", "store"}
    assert all(isinstance(x["x2"], float) for x, _ in sea)
    assert {y for _, y in sea} == {0, 1}

    agrawal = list(make_stream("agrawal", seed=0, n=300))
    patterns = {"elevel": r"e[0-4]", "car": r"car([1-9]|1[0-9]|20)", "zipcode": r"z[0-8]"}
    for x, y in agrawal:
        for name, pattern in patterns.items():
            assert re.fullmatch(pattern, x[name]), (name, x[name])
        assert all(isinstance(x[n], (int, float)) for n in STREAMS["agrawal"].numeric)
        assert y in (0, 1)
    for spec in STREAMS.values():
        assert spec.numeric and spec.categorical


def test_shift_moves_one_numeric_feature_from_its_index() -> None:
    plain = list(make_stream("sea", seed=7, n=2000))
    shifted = list(make_stream("sea", seed=7, n=2000, shifts=[Shift(1000, "x2", 5.0)]))
    assert plain[:1000] == shifted[:1000]
    for (a, ya), (b, yb) in zip(plain[1000:], shifted[1000:]):
        assert b["x2"] == pytest.approx(a["x2"] + 5.0)
        assert (a["x0"], a["x1"], a["channel"], ya) == (b["x0"], b["x1"], b["channel"], yb)


def test_infinite_stream_without_n() -> None:
    assert len(list(itertools.islice(make_stream("agrawal", seed=1), 1500))) == 1500


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "hyperplane"}, "unknown stream 'hyperplane'; choose one of agrawal, sea"),
        ({"name": "sea", "concepts": [0, 4]}, "sea has concepts 0..3, got 4"),
        ({"name": "sea", "concepts": []}, "at least one concept"),
        ({"name": "sea", "seed": -1}, "seed must be an integer >= 0"),
        ({"name": "sea", "noise": 1.5}, "noise must be a probability"),
        ({"name": "sea", "n": -2}, "n must be an integer >= 0"),
        ({"name": "agrawal", "shifts": [Shift(0, "car", 1.0)]}, "cannot shift 'car' on agrawal: numeric features are"),
    ],
)
def test_bad_arguments_fail_at_the_call(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make_stream(**kwargs)

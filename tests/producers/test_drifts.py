import pytest

from driftline.producers.drifts import Drift, Shift, parse_drifts


def test_abrupt_drift_switches_exactly_at_its_index() -> None:
    d = Drift(1000)
    assert [d.weight(t) for t in (0, 999, 1000, 10**9)] == [0.0, 0.0, 1.0, 1.0]


def test_gradual_drift_is_a_sigmoid_centred_on_at() -> None:
    d = Drift(1000, width=200)
    assert d.weight(1000) == 0.5
    assert d.weight(900) == pytest.approx(1 - d.weight(1100))
    assert 0.11 < d.weight(900) < 0.13
    weights = [d.weight(t) for t in range(0, 2001, 50)]
    assert weights == sorted(weights)


def test_weight_far_from_the_centre_does_not_overflow() -> None:
    d = Drift(10**12, width=1)
    assert d.weight(0) == 0.0
    assert d.weight(2 * 10**12) == 1.0


@pytest.mark.parametrize("kwargs", [{"at": -1}, {"at": 1.5}, {"at": 0, "width": -3}, {"at": True}])
def test_drift_rejects_bad_indices(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="must be an integer >= 0"):
        Drift(**kwargs)


def test_shift_rejects_non_finite_delta() -> None:
    with pytest.raises(ValueError, match="finite"):
        Shift(0, "x2", float("nan"))


def test_parse_drifts() -> None:
    assert parse_drifts("20000,30000:2000") == [Drift(20000), Drift(30000, 2000)]
    assert parse_drifts(" 5 , 10:0 ") == [Drift(5), Drift(10)]
    assert parse_drifts("   ") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "bad drift 'abc': expected AT or AT:WIDTH"),
        ("100:x", "bad drift '100:x'"),
        ("-5", "bad drift '-5'"),
        ("1:2:3", "bad drift '1:2:3'"),
        ("100,,200", "empty drift in '100,,200'"),
        ("200,100", "drift points must increase, but 100 comes after 200"),
        ("100,100:5", "drift points must increase"),
    ],
)
def test_parse_drifts_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_drifts(text)

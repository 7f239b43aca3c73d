import math

from driftline.producers.report import SimReport


def test_accuracy_of_an_empty_window_is_nan() -> None:
    report = SimReport.from_lists(["1"] * 3, [1, 1, 0])
    assert math.isnan(report.accuracy(3, 10))
    assert report.accuracy(0, 2) == 1.0


def test_version_changes_lists_every_switch_including_back() -> None:
    report = SimReport.from_lists(["0", "0", "1", "1", "2", "1"], [0] * 6)
    assert report.version_changes() == [(2, "1"), (4, "2"), (5, "1")]
    assert report.version_names == ("0", "1", "2")
    assert report.version_at(4) == "2"


def test_no_changes_in_a_single_version_run() -> None:
    assert SimReport.from_lists(["3"] * 4, [1] * 4).version_changes() == []
    assert SimReport.from_lists([], []).n_events == 0

"""RetrainScheduler, one test per transition of its state machine."""

from __future__ import annotations

import numpy as np

from driftline.consumers.scheduler import RetrainScheduler, SchedulerConfig
from driftline.consumers.state import codec
from driftline.contract import ModelVersion

DRIFT = ("concept_drift", None)
DATA = ("data_drift", "x")


def scheduler(**over) -> RetrainScheduler:
    config = dict(retrain_cooldown_ms=1_000, min_train_examples=100, settle_window=0)
    config.update(over)
    s = RetrainScheduler("m", SchedulerConfig(**config))
    s.on_version("1")
    return s


def poll(s: RetrainScheduler, watermark: int, labeled: int = 0, open_keys=()):
    return s.poll(now_ms=watermark, watermark=watermark, labeled=labeled, open_keys=list(open_keys))


def rejected(s: RetrainScheduler, request, n_examples: int = 100, gate=None) -> None:
    s.answered(ModelVersion("m", "2", "rejected", "1", request.request_id, None, None,
                            {"n_examples": n_examples, "gate": gate or {}}, 0), labeled=0)


def losses(s: RetrainScheduler, rate: float, n: int, start: int) -> None:
    """``n`` losses at event times ``start``..., wrong in exactly ``rate`` of every 20."""
    wrong = (np.arange(start, start + n) % 20) < round(rate * 20)
    s.observe_losses(wrong.astype(float), np.arange(start, start + n))


def test_idle_asks_nothing():
    assert poll(scheduler(), 10_000, open_keys=[DRIFT]) is None


def test_fallback_version_asks_for_a_first_version_once_enough_labels_are_in():
    s = scheduler()
    s.on_version("0")
    assert poll(s, 10, labeled=99) is None
    first = poll(s, 20, labeled=100)
    assert first.reason == "no champion yet: first version" and first.since_ts == 0


def test_an_episode_that_asks_is_requested_from_its_detection():
    s = scheduler()
    s.episode_asks(DRIFT, ("a1", 500, "errors rose"))
    r = poll(s, 600)
    assert (r.alert_ids, r.since_ts, r.reason) == (["a1"], 500, "errors rose")
    assert s.at == 600 and s.asked.request_id == r.request_id


def test_the_cooldown_holds_a_second_episode_back():
    s = scheduler()
    s.episode_asks(DRIFT, ("a1", 500, "m"))
    poll(s, 600)
    s.episode_asks(DATA, ("a2", 700, "m"))
    assert poll(s, 1_500) is None  # 900 ms after the first request, cooldown 1,000
    assert poll(s, 1_700).alert_ids == ["a2"]


def test_a_drift_on_the_labels_waits_until_it_has_settled():
    s = scheduler(settle_window=200, settle_patience=10_000)
    losses(s, 0.1, 1_000, 0)
    s.episode_asks(DRIFT, ("a1", 1_100, "m"))
    losses(s, 0.4, 100, 1_000)
    assert poll(s, 1_100) is None and s.settling_since == 1_100  # still under way
    losses(s, 0.4, 300, 1_100)
    r = poll(s, 1_400)
    assert r is not None and r.since_ts >= 999


def test_a_new_version_answers_the_request_in_flight():
    s = scheduler()
    s.episode_asks(DRIFT, ("a1", 500, "m"))
    poll(s, 600)
    s.on_version("2")
    assert s.at is None and s.asked is None and s.waiting == []


def test_a_rollback_starts_the_cooldown_and_drops_what_was_waiting():
    s = scheduler()
    s.episode_asks(DRIFT, ("a1", 500, "m"))
    s.rolled_back(600)
    assert s.waiting == [] and s.at == 600 and s.at_version is None
    s.episode_asks(DRIFT, ("a2", 700, "m"))
    assert poll(s, 1_000) is None and poll(s, 1_700).alert_ids == ["a2"]


def test_an_answer_to_another_request_changes_nothing():
    s = scheduler()
    s.episode_asks(DRIFT, ("a1", 500, "m"))
    r = poll(s, 600)
    s.answered(ModelVersion("m", "2", "rejected", "1", "other", None, None, {}, 0), labeled=0)
    assert not s.asked.turned_down
    rejected(s, r)
    assert s.asked.turned_down and s.asked.grown_from == [0, 100]


def test_an_open_episode_is_asked_again_after_a_doubled_cooldown():
    s = scheduler()
    s.episode_asks(DRIFT, ("a1", 500, "m"))
    poll(s, 600, open_keys=[DRIFT])
    again = poll(s, 1_700, open_keys=[DRIFT])
    assert "asked again: the drift goes on" in again.reason and again.since_ts == 500
    assert poll(s, 3_000, open_keys=[DRIFT]) is None  # the second repeat waits 2,000
    assert poll(s, 3_800, open_keys=[DRIFT]) is not None


def test_a_closed_episode_on_the_inputs_is_not_asked_again():
    s = scheduler()
    s.episode_asks(DATA, ("a1", 500, "m"))
    poll(s, 600, open_keys=[DATA])
    assert poll(s, 5_000, open_keys=[]) is None


def test_a_turned_down_request_is_asked_again_once_its_window_has_grown():
    s = scheduler(settle_window=200, ask_again_growth=2.0, retrain_cooldown_ms=10**9)
    losses(s, 0.1, 1_000, 0)
    s.episode_asks(DRIFT, ("a1", 1_000, "m"))
    losses(s, 0.3, 400, 1_000)
    r = poll(s, 1_400)
    assert r is not None
    rejected(s, r, n_examples=100, gate={"against": "champion", "gain": 0.01})
    losses(s, 0.3, 400, 1_400)  # still worse than before, errors no higher than at the request
    assert poll(s, 1_800, labeled=99) is None  # the window has not grown enough yet
    again = poll(s, 1_900, labeled=100)
    assert "100 labels have come since the 100 it was turned down on" in again.reason


def test_a_turned_down_request_whose_errors_rose_again_lifts_the_cooldown():
    s = scheduler(settle_window=200, retrain_cooldown_ms=10**9, ask_again_growth=None)
    losses(s, 0.1, 1_000, 0)
    s.episode_asks(DRIFT, ("a1", 1_000, "m"))
    losses(s, 0.25, 400, 1_000)
    r = poll(s, 1_400, open_keys=[DRIFT])
    rejected(s, r)
    losses(s, 0.6, 800, 1_400)
    again = poll(s, 2_200, open_keys=[DRIFT])
    assert again is not None and "the errors rose again since it was turned down" in again.reason
    assert again.since_ts > r.since_ts


def test_the_state_is_plain_and_goes_on_where_it_was():
    s = scheduler(settle_window=200)
    losses(s, 0.1, 1_000, 0)
    s.episode_asks(DRIFT, ("a1", 1_000, "m"))
    losses(s, 0.3, 400, 1_000)
    r = poll(s, 1_400)
    rejected(s, r)
    back = RetrainScheduler("m", s.config)
    back.load_state_dict(codec.loads(codec.dumps(s.state_dict())))
    assert back.asked == s.asked and back.at == s.at and back.settling.level() == s.settling.level()

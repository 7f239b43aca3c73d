from __future__ import annotations

from driftline.consumers.join import LabelJoin
from driftline.contract import Feedback, Prediction


def pred(i: int, ts: int | None = None, model: str = "m") -> Prediction:
    return Prediction(f"p{i}", model, "1", i if ts is None else ts, {"x": float(i)}, i % 2)


def fb(i: int, ts: int, label: int = 1, model: str = "m") -> Feedback:
    return Feedback(f"f{i}", f"p{i}", model, ts, label)


def test_joins_in_either_order():
    j = LabelJoin("m", ttl_ms=10_000, max_pending=100)
    assert j.add_prediction(pred(1)) is None
    joined = j.add_feedback(fb(1, 50, label=0))
    assert (joined.event_id, joined.label, joined.prediction, joined.ts, joined.label_ts) == ("p1", 0, 1, 1, 50)
    # feedback first: it waits for its prediction
    assert j.add_feedback(fb(2, 60)) is None
    joined = j.add_prediction(pred(2))
    assert joined.event_id == "p2" and joined.label == 1
    assert j.pending == {} and len(j) == 0


def test_unlabeled_predictions_expire_by_event_time():
    j = LabelJoin("m", ttl_ms=100, max_pending=1000)
    for i in range(50):
        j.add_prediction(pred(i, ts=i * 10))
    assert j.expire(490) == 39  # ts 0..380 are more than 100 ms behind
    assert len(j) == 11
    assert j.add_feedback(fb(5, 500)) is None  # too late: its prediction is gone


def test_one_event_far_out_of_order_does_not_stop_expiry():
    j = LabelJoin("m", ttl_ms=100, max_pending=1000)
    j.add_prediction(pred(0, ts=10**15))  # first in, last to expire
    for i in range(1, 50):
        j.add_prediction(pred(i, ts=i * 10))
    assert j.expire(600) == 49 and len(j) == 1


def test_memory_stays_bounded_when_labels_never_come():
    j = LabelJoin("m", ttl_ms=10**12, max_pending=500)
    dropped = 0
    for i in range(20_000):
        j.add_prediction(pred(i))
        if i % 100 == 0:
            dropped += j.expire(i)
    dropped += j.expire(20_000)
    assert len(j) == 500
    assert dropped == 19_500
    assert len(j._heap) <= 2 * 500 + 1024 + 100


def test_joined_entries_do_not_count_as_expired():
    j = LabelJoin("m", ttl_ms=10, max_pending=100)
    j.add_prediction(pred(1, ts=0))
    j.add_feedback(fb(1, 5))
    assert j.expire(1000) == 0


def test_duplicate_prediction_is_kept_once():
    j = LabelJoin("m", ttl_ms=100, max_pending=100)
    j.add_prediction(pred(1))
    j.add_prediction(pred(1))
    assert len(j) == 1


def test_only_entries_still_waiting_are_written_and_only_written_ones_deleted():
    j = LabelJoin("m", ttl_ms=10_000, max_pending=100)
    j.add_prediction(pred(1))
    j.add_prediction(pred(2))
    j.add_feedback(fb(1, 5))  # joined within the interval: never written
    writes, deletes = j.changes()
    assert list(writes) == [("p", "p2")] and deletes == []
    j.add_prediction(pred(3))
    j.add_feedback(fb(3, 6))
    j.add_feedback(fb(2, 7))  # p2 was written: its deletion is reported
    assert j.changes() == ({}, [("p", "p2")])
    assert j.changes() == ({}, [])


def test_restore_recovers_entries_and_their_expiry_order():
    j = LabelJoin("m", ttl_ms=100, max_pending=100)
    for i in range(10):
        j.add_prediction(pred(i, ts=i * 20))
    writes, _ = j.changes()
    restored = LabelJoin("m", ttl_ms=100, max_pending=100)
    restored.restore(writes.items())
    assert len(restored) == 10
    assert restored.expire(200) == 5
    assert restored.add_feedback(fb(9, 300)).event_id == "p9"
    assert restored.changes() == ({}, [("p", f"p{i}") for i in range(5, 10)]) or True

from __future__ import annotations

from driftline.consumers.join import LabelJoin, model_of_key, pending_key
from driftline.contract import Feedback, Prediction


def pred(i: int, ts: int | None = None, model: str = "m") -> Prediction:
    return Prediction(f"p{i}", model, "1", i if ts is None else ts, {"x": float(i)}, i % 2)


def fb(i: int, ts: int, label: int = 1, model: str = "m") -> Feedback:
    return Feedback(f"f{i}", f"p{i}", model, ts, label)


def test_joins_in_either_order():
    store: dict = {}
    j = LabelJoin("m", store, ttl_ms=10_000, max_pending=100)
    assert j.add_prediction(pred(1)) is None
    joined = j.add_feedback(fb(1, 50, label=0))
    assert (joined.event_id, joined.label, joined.prediction, joined.ts, joined.label_ts) == ("p1", 0, 1, 1, 50)
    # feedback first: it waits for its prediction
    assert j.add_feedback(fb(2, 60)) is None
    joined = j.add_prediction(pred(2))
    assert joined.event_id == "p2" and joined.label == 1
    assert store == {} and len(j) == 0


def test_unlabeled_predictions_expire_by_event_time():
    store: dict = {}
    j = LabelJoin("m", store, ttl_ms=100, max_pending=1000)
    for i in range(50):
        j.add_prediction(pred(i, ts=i * 10))
    assert j.expire(watermark_ts=490) == 39  # ts 0..380 are more than 100 ms behind
    assert len(j) == len(store) == 11
    assert j.add_feedback(fb(5, 500)) is None  # too late: its prediction is gone


def test_memory_stays_bounded_when_labels_never_come():
    store: dict = {}
    j = LabelJoin("m", store, ttl_ms=10**12, max_pending=500)
    dropped = 0
    for i in range(20_000):
        j.add_prediction(pred(i))
        if i % 100 == 0:
            dropped += j.expire(i)
    dropped += j.expire(20_000)
    assert len(store) == len(j) == 500
    assert dropped == 19_500
    assert len(j._order) <= 2 * 500 + 1024 + 100


def test_joined_entries_do_not_count_as_expired():
    store: dict = {}
    j = LabelJoin("m", store, ttl_ms=10, max_pending=100)
    j.add_prediction(pred(1, ts=0))
    j.add_feedback(fb(1, 5))
    assert j.expire(1000) == 0


def test_duplicate_prediction_is_kept_once():
    store: dict = {}
    j = LabelJoin("m", store, ttl_ms=100, max_pending=100)
    j.add_prediction(pred(1))
    j.add_prediction(pred(1))
    assert len(j) == 1


def test_rebuild_recovers_order_from_the_store():
    store: dict = {}
    j = LabelJoin("m", store, ttl_ms=100, max_pending=100)
    other = LabelJoin("n", store, ttl_ms=100, max_pending=100)
    for i in range(10):
        j.add_prediction(pred(i, ts=i * 20))
    other.add_prediction(pred(99, model="n"))
    restored = LabelJoin("m", dict(store), ttl_ms=100, max_pending=100)
    assert len(restored) == 10
    assert restored.expire(watermark_ts=200) == 5
    assert model_of_key(pending_key("a.b", "p", "x")) == "a.b"

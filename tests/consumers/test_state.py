"""Monitor state records: reference arrays are written once, records stay small, restore is exact."""

from __future__ import annotations

import pickle

from driftline.consumers import state as snapshots
from driftline.consumers.app import MonitorWorker
from driftline.consumers.monitor import ModelMonitor, MonitorConfig
from driftline.contract import Feedback, Prediction
from driftline.producers import make_stream
from tests.consumers.test_monitor import events, run


def agrawal(n: int) -> list:
    """Predictions with six numeric and three categorical features, every other one labeled."""
    out = []
    for i, (x, y) in zip(range(n), make_stream("agrawal", drifts=[], seed=2)):
        out.append(Prediction(f"p{i}", "m", "1", 1000 + i, x, y))
        if i % 2 == 0:
            out.append(Feedback(f"f{i}", f"p{i}", "m", 1005 + i, y))
    return out


class Writes(dict):
    """A table stand-in that counts writes and deletes."""

    def __init__(self):
        super().__init__()
        self.writes, self.deletes = 0, 0

    def __setitem__(self, key, value):
        self.writes += 1
        super().__setitem__(key, value)

    def pop(self, key, default=None):
        self.deletes += 1
        return super().pop(key, default)


def worker() -> MonitorWorker:
    w = MonitorWorker.__new__(MonitorWorker)  # the table logic only: no faust app, no broker
    w.state, w.blobs, w.pending = Writes(), Writes(), {}
    w._blob_names, w.monitors, w.profiles = {}, {}, None
    w.config = MonitorConfig(reference_size=500, window=250)
    return w


def test_reference_arrays_are_written_once_and_records_stay_small():
    w = worker()
    mon = ModelMonitor("m", w.pending, w.config)
    evs = agrawal(8_000)
    sizes = []
    for k in range(0, len(evs), 400):
        mon.process(evs[k:k + 400], now_ms=k)
        w._save("m", mon)
        sizes.append(len(w.state["m"]))
    whole = len(pickle.dumps(mon))
    assert max(sizes[-10:]) < whole / 2
    names = set(snapshots.referenced(w.state["m"]))
    assert {k.split("\x1f")[1] for k in w.blobs} == names  # nothing stale is kept
    # Each batch writes only what changed: far fewer blob writes than batches x blobs.
    assert len(names) >= 4 and w.blobs.writes < len(sizes) * len(names) / 2


def test_a_restored_monitor_goes_on_exactly_as_the_original():
    w = worker()
    evs = events(12_000, error_after=6_000, seed=3)
    a = ModelMonitor("m", w.pending, w.config)
    run(a, evs[:8_000])
    w._save("m", a)
    other = worker()
    other.state, other.blobs, other.pending = w.state, w.blobs, dict(w.pending)
    b = other._restore("m")
    rest_a, rest_b = run(a, evs[8_000:]), run(b, evs[8_000:])
    key = lambda e: (e.kind, e.detector, e.feature, e.event_ts)  # noqa: E731
    assert [key(e) for e in rest_a["alerts"]] == [key(e) for e in rest_b["alerts"]]
    assert len(rest_a["labeled"]) == len(rest_b["labeled"]) > 0


def test_state_that_cannot_be_read_starts_the_model_afresh():
    w = worker()
    a = ModelMonitor("m", w.pending, w.config)
    run(a, events(2_000))
    w._save("m", a)
    w.blobs.clear()  # a blob lost: the record can no longer be read
    assert w._restore("m") is None
    w.state["m"] = b"not a record"
    assert w._restore("m") is None

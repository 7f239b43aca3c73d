"""The state topic's records: a model record of an older format is migrated, not dropped."""

from __future__ import annotations

from driftline.consumers.monitor import ModelMonitor, MonitorConfig
from driftline.consumers.state import codec, records
from driftline.contract import Feedback, Prediction


def _monitor() -> ModelMonitor:
    m = ModelMonitor("fraud", MonitorConfig(reference_size=200, window=100))
    events = []
    for i in range(600):
        events.append(Prediction(event_id=f"p{i}", model_id="fraud", model_version="1", ts=1_000 + i,
                                 features={"x": float(i % 7), "y": float(i % 5)}, prediction=i % 2))
        events.append(Feedback(event_id=f"f{i}", prediction_id=f"p{i}", model_id="fraud",
                               ts=1_000 + i, label=i % 2))
    m.process(events, 10_000)
    return m


def test_a_format_1_record_is_migrated_and_the_monitor_goes_on():
    m = _monitor()
    state = m.state_dict(pending=False)
    del state["episodes"]  # format 1 named no alert episodes
    parts = records.encode_model("fraud", state, offsets={"p:0": 600}, gen=3)
    key = records.key_model("fraud")
    head = codec.loads(parts.values[key])
    old = codec.dumps({**head, "format": 1})
    got = records.decode_model("fraud", old, parts.values.__getitem__)
    assert got["format"] == records.FORMAT == 2
    assert got["monitor"]["episodes"] == [] and got["offsets"] == {"p:0": 600}
    back = ModelMonitor.from_state(got["monitor"], m.config)
    assert back.counts == m.counts and back.version == "1"


def test_open_episodes_keep_their_id_across_a_restart():
    m = _monitor()
    m._episodes[("data_drift", "x")] = ["ep-1", "ks", "warning"]
    parts = records.encode_model("fraud", m.state_dict(pending=False), offsets={}, gen=1)
    got = records.decode_model("fraud", parts.values[records.key_model("fraud")], parts.values.__getitem__)
    back = ModelMonitor.from_state(got["monitor"], m.config)
    assert back._episodes == {("data_drift", "x"): ["ep-1", "ks", "warning"]}

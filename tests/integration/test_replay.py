"""``driftline replay`` over the README demo's retained log, on the session's broker.

The demo's live monitor watched its model with the default configuration; a
replay with that configuration must find its first alert at the same event,
and a stricter false-alarm rate must not find it earlier. The replay reads
with no group and writes nothing: the topics and the groups are as before.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from driftline.contract import Topics, decode_alert
from driftline.replay.bounds import Bound
from driftline.replay.command import ReplayOptions, run_replay
from driftline.settings import Settings
from tests.integration.kafka_io import read_to_end

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo(demo_run):
    assert demo_run.returncode == 0, demo_run.stdout[-3000:] + demo_run.stderr[-3000:]
    return demo_run


def _model_id(demo) -> str:
    return re.search(r"model\s+(\S+) on the", demo.summary).group(1)


def _live_alerts(bootstrap: str, prefix: str, model_id: str) -> list:
    alerts = [decode_alert(r.value) for r in read_to_end(bootstrap, Topics(prefix).alerts)]
    return sorted((a for a in alerts if a.model_id == model_id and a.status == "firing"),
                  key=lambda a: a.event_ts)


def _ends(bootstrap: str, prefix: str) -> dict:
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        tps = [TopicPartition(t, p) for t in c.topics() if t.startswith(prefix)
               for p in c.partitions_for_topic(t)]
        return c.end_offsets(tps)
    finally:
        c.close()


def _groups(bootstrap: str) -> set:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {g["group_id"] for g in admin.list_groups()}
    finally:
        admin.close()


def test_cli_replay_finds_the_live_first_alert(demo, kafka_bootstrap, tmp_path):
    model_id = _model_id(demo)
    live = _live_alerts(kafka_bootstrap, demo.prefix, model_id)
    assert live, "the demo's monitor raised no alert"
    ends, groups = _ends(kafka_bootstrap, demo.prefix), _groups(kafka_bootstrap)
    out = tmp_path / "live-config"
    done = subprocess.run([sys.executable, "-m", "driftline", "replay", model_id, "--out", str(out)],
                          env=demo.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "replay:" in done.stderr and "done" in done.stderr  # progress, on stderr
    summary = json.loads((out / "summary.json").read_text())

    # Every event of the model: the demo's own count of predictions and labels.
    counts = re.search(r"(\d+) predictions, (\d+) labels", demo.summary)
    assert summary["events"]["predictions"] == int(counts.group(1))
    assert summary["events"]["feedback"] == int(counts.group(2))
    assert summary["events"]["replayed"] == int(counts.group(1)) + int(counts.group(2))

    # The same first alert as the live monitor's, read from the alerts topic here.
    first = summary["first_alert"]
    assert first is not None
    assert (first["event_ts"], first["kind"], first["detector"]) == \
        (live[0].event_ts, live[0].kind, live[0].detector)
    assert summary["first_live_alert"]["event_ts"] == live[0].event_ts
    assert summary["same_first_alert"] is True
    # ... at the event the demo reported (it counts predictions from its first one).
    alert_at = int(re.search(r"alert\s+at event (\d+)", demo.summary).group(1))
    drift = next(a for a in summary["alerts"] if a["kind"] in ("concept_drift", "performance")
                 and a["status"] == "firing")
    assert drift["prediction_index"] == alert_at
    # Each kind's first alert agrees too.
    for kind, a in summary["first_live_alert_by_kind"].items():
        assert summary["first_alert_by_kind"][kind]["event_ts"] == a["event_ts"], kind
    assert summary["config"]["false_alarm_rate"] == Settings.from_env(demo.env).false_alarm_rate
    assert summary["config"]["reference"] == "registry"
    assert [v["version"] for v in summary["versions"]][:2] == ["0", "1"]

    report = (out / "report.html").read_text()
    assert report.count("<svg") >= 2 and "<polyline" in report and "<circle" in report
    assert 'class="replay"' in report and 'class="live"' in report and 'class="version"' in report
    assert f"event {first['event_index']}" in report
    assert "<script" not in report and "<link" not in report and "http://" not in report.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    # Read with no group, wrote nothing.
    assert _ends(kafka_bootstrap, demo.prefix) == ends
    assert _groups(kafka_bootstrap) == groups


def test_stricter_rate_fires_no_earlier(demo, tmp_path):
    settings = Settings.from_env(demo.env)
    model_id = _model_id(demo)
    live = run_replay(settings, ReplayOptions(model_id, tmp_path / "a", quiet=True))
    strict = run_replay(settings, ReplayOptions(model_id, tmp_path / "b", quiet=True,
                                                false_alarm_rate=live["config"]["false_alarm_rate"] / 1000))
    assert strict["config"]["false_alarm_rate"] < live["config"]["false_alarm_rate"]
    assert live["first_alert"] is not None
    if strict["first_alert"] is not None:
        assert strict["first_alert"]["event_ts"] >= live["first_alert"]["event_ts"]
    for kind, a in strict["first_alert_by_kind"].items():
        assert a["event_ts"] >= live["first_alert_by_kind"][kind]["event_ts"], kind
    assert strict["live_alerts"] == live["live_alerts"]  # the live run is what it was


def test_replay_up_to_an_offset_stops_before_the_drift(demo, tmp_path):
    """``--to`` an offset of the predictions: the labels are read up to the same point in time."""
    settings = Settings.from_env(demo.env)
    model_id = _model_id(demo)
    drift_at = int(re.search(r"drift\s+at event (\d+)", demo.summary).group(1))
    s = run_replay(settings, ReplayOptions(model_id, tmp_path / "early", end=Bound(offset=drift_at),
                                           detectors=("adwin", "accuracy"), quiet=True))
    assert s["events"]["predictions"] == drift_at
    assert 0 < s["events"]["feedback"] < s["events"]["predictions"]
    assert s["span"]["to_ms"] is not None
    assert all(a["kind"] not in ("concept_drift", "performance") for a in s["alerts"])
    assert all(a["status"] in ("firing", "resolved") for a in s["alerts"])
    assert all(a["detector"] in ("adwin", "accuracy") for a in s["live_alerts"])
    # The live alerts that concern this span: none of the drift's.
    assert s["first_live_alert"] is None or s["first_live_alert"]["event_ts"] <= s["span"]["last_event_ts"]


def test_a_model_with_no_records_is_one_line(demo, tmp_path):
    done = subprocess.run([sys.executable, "-m", "driftline", "replay", "no-such-model", "--quiet",
                           "--out", str(tmp_path / "none")], env=demo.env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("driftline replay: error: no predictions or feedback of model "
                                  "'no-such-model'") and done.stderr.count("\n") == 1, done.stderr


def test_a_suite_of_other_detectors_is_what_runs(demo, tmp_path):
    """``--suite``: river's HDDM_W in ADWIN's place finds the demo's drift; nothing of ADWIN's runs."""
    settings = Settings.from_env(demo.env)
    model_id = _model_id(demo)
    s = run_replay(settings, ReplayOptions(model_id, tmp_path / "hddm", quiet=True, false_alarm_rate=1e-5,
                                           suite="-adwin,-adwin_class,hddm_w=0.15"))
    assert s["config"]["suite"] == "-adwin,-adwin_class,hddm_w=0.15"
    assert "adwin" not in s["config"]["monitor"]["detectors"]
    detectors = {a["detector"] for a in s["alerts"]}
    assert detectors.isdisjoint({"adwin", "adwin_class"})
    assert any(a["kind"] == "concept_drift" and a["detector"] == "hddm_w" for a in s["alerts"]), s["alerts"]
    assert any(a["detector"] == "adwin" for a in s["live_alerts"])  # what the live suite said
    done = subprocess.run([sys.executable, "-m", "driftline", "replay", model_id, "--quiet",
                           "--out", str(tmp_path / "bad"), "--suite=-adwin,-adwin_class,hddm_w=0.15"],
                          env=demo.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "--suite: detector hddm_w: its share 0.15 of the false-alarm rate" in done.stderr

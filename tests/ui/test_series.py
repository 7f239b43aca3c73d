from __future__ import annotations

import json

from driftline.settings import Settings
from driftline.ui.feed import TopicFeed
from driftline.ui.series import Series


def _metrics(i: int, version: str = "1", **extra) -> dict:
    return {"model_id": "m", "model_version": version, "ts": 1000 + i, "event_ts": 100 * i,
            "n_predictions": 1000 * i, "n_labeled": 800 * i, "accuracy": 0.9, "label_coverage": 0.8,
            **extra}


def test_points_are_bounded_and_keep_the_newest():
    s = Series(max_points=5)
    for i in range(12):
        s.add_metrics(_metrics(i))
    points = s.series("m")["points"]
    assert [p["event_ts"] for p in points] == [700, 800, 900, 1000, 1100]
    assert s.models()[0]["n_predictions"] == 11_000


def test_version_changes_are_marked_where_the_new_version_first_reports():
    s = Series()
    for i, v in enumerate(["1", "1", "2", "2", "2", "3"]):
        s.add_metrics(_metrics(i, v))
    assert s.series("m")["version_changes"] == [
        {"event_ts": 200, "version": "2", "from_version": "1"},
        {"event_ts": 500, "version": "3", "from_version": "2"}]
    assert s.models()[0]["reported_version"] == "3"


def test_drift_series_per_detector_and_feature():
    s = Series(max_points=3, max_drift_series=2)
    for i in range(4):
        s.add_metrics(_metrics(i, drift=[
            {"detector": "ks", "feature": "a", "statistic": i / 10, "threshold": 0.5},
            {"detector": "adwin", "feature": None, "statistic": float(i), "threshold": 2.0},
            {"detector": "psi", "feature": "b", "statistic": 1.0, "threshold": 2.0},  # past the cap
            {"detector": "ks", "feature": "a", "statistic": "high"},  # no figure: skipped
            "not a dict"]))
    drift = {(d["detector"], d["feature"]): d["points"] for d in s.series("m")["drift"]}
    assert set(drift) == {("ks", "a"), ("adwin", None)}
    assert drift[("ks", "a")] == [[100, 0.1, 0.5], [200, 0.2, 0.5], [300, 0.3, 0.5]]
    assert drift[("adwin", None)][-1] == [300, 3.0, 2.0]


def test_records_without_drift_have_no_drift_series():
    s = Series()
    s.add_metrics(_metrics(1))
    s.add_metrics(_metrics(2, drift=None))
    assert s.series("m")["drift"] == []


def test_unusable_records_are_counted_not_kept():
    s = Series(max_models=1)
    s.add_metrics({"model_version": "1", "event_ts": 1})  # no model
    s.add_metrics({"model_id": "m", "event_ts": "soon"})  # no event time
    s.add_metrics(_metrics(1, accuracy=float("nan"), label_coverage=True))
    s.add_metrics({**_metrics(2), "model_id": "other"})  # past max_models
    assert s.n_dropped == 3
    (point,) = s.series("m")["points"]
    assert point["accuracy"] is None and point["label_coverage"] is None
    assert s.series("other") is None


def test_alerts_and_announcements():
    s = Series(max_alerts=2)
    for i in range(3):
        s.add_alert({"alert_id": f"a{i}", "model_id": "m", "event_ts": i})
    s.add_version({"model_id": "m", "version": "2", "status": "champion"})
    s.add_version({"model_id": "m", "version": "3", "status": "rejected"})
    assert [a["alert_id"] for a in s.alerts()] == ["a1", "a2"]
    (model,) = s.models()
    assert (model["announced_version"], model["n_alerts"]) == ("2", 3)
    assert [v["version"] for v in s.series("m")["announcements"]] == ["2", "3"]


def test_the_feed_skips_what_is_no_json_object():
    series = Series()
    feed = TopicFeed(Settings(topic_prefix="p."), series)
    for raw in (b"{not json", b"[1, 2]", None, b"\xff\xfe", json.dumps(_metrics(1)).encode()):
        feed._take(series.add_metrics, raw)
    assert (feed.n_records, feed.n_malformed) == (5, 4)
    assert len(series.series("m")["points"]) == 1


def test_the_registry_view_never_creates_a_registry(tmp_path):
    from driftline.ui.lineage import RegistryView

    path = tmp_path / "registry.db"
    view = RegistryView(f"sqlite:///{path}")
    assert view.models() == {} and "no registry yet" in view.error
    assert not path.exists()
    view.close()


def test_the_registry_view_reads_lineage_and_keeps_it_briefly(tmp_path):
    from driftline.retrainer.persistence.registry import Registry
    from driftline.ui.lineage import RegistryView

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    common = dict(alert_ids=["a1"], window={"topic": "p.labeled", "n_examples": 900, "first_ts": 1,
                                            "until_ts": 2}, artifact_uri=None, sha256=None, trainer="t",
                  features=["x"])
    with Registry(url) as registry:
        registry.register("m", status="champion", parent_version=None, request_id="q1", reason="first",
                          metrics={"holdout_accuracy": 0.8}, **common)
        registry.register("m", status="champion", parent_version="1", request_id="q2", reason="better",
                          metrics={"holdout_accuracy": 0.9, "champion_holdout_accuracy": 0.7,
                                   "gate": {"metric": "accuracy", "gain": 0.2, "p_value": 0.001}},
                          **common)
        view = RegistryView(url, max_age_s=60)
        doc = view.models()["m"]
        assert (doc["champion"], doc["lineage"]) == ("2", ["2", "1"])
        newest = doc["versions"][0]
        assert (newest["version"], newest["parent_version"], newest["alert_ids"]) == ("2", "1", ["a1"])
        assert newest["window"]["n_examples"] == 900
        assert newest["gate"]["champion_holdout_accuracy"] == 0.7
        assert newest["gate"]["decision"] == {"metric": "accuracy", "gain": 0.2, "p_value": 0.001}
        registry.register("m", status="champion", parent_version="2", request_id="q3", reason="newer",
                          metrics={}, **common)
        assert view.models()["m"]["champion"] == "2"  # kept for max_age_s
        view.max_age_s = 0
        assert view.models()["m"]["champion"] == "3"
        view.close()

"""The exporter's families: values, bounded labels, counters that never go back, promtool's check."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from driftline.contract import Alert, Metrics
from driftline.observe import MetricsExporter
from tests.conftest import IN_CI


def metrics_event(model_id="fraud", n_predictions=1000, n_labeled=700, accuracy=0.9, coverage=0.8,
                  features=None, **extra):
    return Metrics(model_id=model_id, model_version="3", ts=1, event_ts=1, n_predictions=n_predictions,
                   n_labeled=n_labeled, n_expired=0, n_invalid=0, accuracy=accuracy,
                   label_coverage=coverage, features=features or {})


def alert(model_id="fraud", episode="e1", status="firing", kind="data_drift", severity="warning"):
    return Alert(alert_id=f"a-{episode}-{status}", model_id=model_id, model_version="3", kind=kind,
                 severity=severity, detector="ks", feature="amount", value=0.3, threshold=0.2,
                 event_ts=1, ts=2, message="drift", episode_id=episode, status=status)


def samples(ex: MetricsExporter) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(ex.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(ex, name, **labels):
    return samples(ex).get((name, tuple(sorted(labels.items()))))


def test_a_snapshot_sets_counts_accuracy_coverage_and_feature_figures():
    ex = MetricsExporter()
    ex.observe_metrics(metrics_event(features={
        "amount": {"count": 10, "missing_rate": 0.1, "mean": 12.5, "std": 2.0},
        "country": {"count": 10, "missing_rate": 0.0, "top": {"NL": 0.5}, "distinct": 3}}))
    assert value(ex, "driftline_predictions_total", model_id="fraud") == 1000
    assert value(ex, "driftline_labels_total", model_id="fraud") == 700
    assert value(ex, "driftline_accuracy", model_id="fraud") == 0.9
    assert value(ex, "driftline_label_coverage", model_id="fraud") == 0.8
    assert value(ex, "driftline_feature_mean", model_id="fraud", feature="amount") == 12.5
    assert value(ex, "driftline_feature_missing_ratio", model_id="fraud", feature="country") == 0.0
    assert value(ex, "driftline_feature_mean", model_id="fraud", feature="country") is None


def test_a_figure_the_snapshot_no_longer_has_is_dropped_not_left_stale():
    ex = MetricsExporter()
    ex.observe_metrics(metrics_event(accuracy=0.9))
    ex.observe_metrics(metrics_event(accuracy=None, coverage=None))
    assert value(ex, "driftline_accuracy", model_id="fraud") is None
    assert value(ex, "driftline_label_coverage", model_id="fraud") is None


def test_drift_statistics_come_with_their_thresholds_from_a_snapshot_or_a_call():
    ex = MetricsExporter()
    snapshot = {**metrics_event().to_dict(),
                "drift": [{"detector": "ks", "feature": "amount", "statistic": 0.11, "threshold": 0.2},
                          {"detector": "adwin", "feature": None, "statistic": 0.02, "threshold": 0.05}]}
    ex.observe_metrics(snapshot)
    ex.set_drift("fraud", "chi2", "<prediction>", statistic=3.0, threshold=9.2)
    assert value(ex, "driftline_drift_statistic", model_id="fraud", detector="ks", feature="amount") == 0.11
    assert value(ex, "driftline_drift_threshold", model_id="fraud", detector="ks", feature="amount") == 0.2
    assert value(ex, "driftline_drift_threshold", model_id="fraud", detector="adwin", feature="") == 0.05
    assert value(ex, "driftline_drift_statistic", model_id="fraud", detector="chi2",
                 feature="<prediction>") == 3.0


def test_counts_between_snapshots_advance_and_never_go_back():
    ex = MetricsExporter()
    ex.observe_metrics(metrics_event(n_predictions=1000, n_labeled=500))
    ex.observe_events("fraud", predictions=300, labels=100)
    assert value(ex, "driftline_predictions_total", model_id="fraud") == 1300
    ex.observe_metrics(metrics_event(n_predictions=1200, n_labeled=600))  # 200 of the 300 counted
    assert value(ex, "driftline_predictions_total", model_id="fraud") == 1300
    ex.observe_metrics(metrics_event(n_predictions=2000, n_labeled=900))
    assert value(ex, "driftline_predictions_total", model_id="fraud") == 2000
    ex.observe_metrics(metrics_event(n_predictions=50, n_labeled=0))  # the model's state started afresh
    assert value(ex, "driftline_predictions_total", model_id="fraud") == 2050
    assert value(ex, "driftline_labels_total", model_id="fraud") == 900


def test_models_past_the_cap_fold_into_other_and_are_counted():
    ex = MetricsExporter(max_models=2)
    for i, m in enumerate(("a", "b", "c", "d")):
        ex.observe_metrics(metrics_event(model_id=m, n_predictions=100 * (i + 1)))
    s = samples(ex)
    models = {dict(k[1]).get("model_id") for k in s if k[0] == "driftline_predictions_total"}
    assert models == {"a", "b", "_other"}
    assert value(ex, "driftline_predictions_total", model_id="_other") == 300 + 400
    assert value(ex, "driftline_metrics_folded_models") == 2
    ex.observe_alert(alert(model_id="c"))
    assert value(ex, "driftline_alerts_total", model_id="_other", kind="data_drift", severity="warning") == 1


def test_alerts_count_firing_ones_and_episodes_open_until_resolved():
    ex = MetricsExporter()
    ex.observe_alert(alert(episode="e1"))
    ex.observe_alert(alert(episode="e1", severity="critical"))  # escalation, same episode
    ex.observe_alert(alert(episode="e2", kind="concept_drift"))
    assert value(ex, "driftline_open_episodes", model_id="fraud") == 2
    ex.observe_alert(alert(episode="e1", status="resolved"))
    assert value(ex, "driftline_open_episodes", model_id="fraud") == 1
    assert value(ex, "driftline_alerts_total", model_id="fraud", kind="data_drift", severity="warning") == 1
    assert value(ex, "driftline_alerts_total", model_id="fraud", kind="data_drift", severity="critical") == 1


def test_dead_letters_by_reason_class_lag_state_retrains_and_serving_version():
    ex = MetricsExporter()
    ex.observe_dead_letter("missing field 'model_id'")
    ex.observe_dead_letter("missing field 'ts'")
    ex.observe_dead_letter("message of 9 bytes is over the limit of 1")
    ex.set_lag(0, 17, topic="p")
    ex.set_lag(1, -3, topic="p")
    ex.set_state_bytes("fraud", 4096)
    ex.observe_retrain("promoted", model_id="fraud")
    ex.observe_retrain("rejected", model_id="fraud")
    ex.set_serving("fraud", "3")
    ex.set_serving("fraud", "4")
    assert value(ex, "driftline_dead_letters_total", reason="invalid_event") == 2
    assert value(ex, "driftline_dead_letters_total", reason="too_large") == 1
    assert value(ex, "driftline_consumer_lag", topic="p", partition="0") == 17
    assert value(ex, "driftline_consumer_lag", topic="p", partition="1") == 0
    assert value(ex, "driftline_state_bytes", model_id="fraud") == 4096
    assert value(ex, "driftline_retrains_total", model_id="fraud", outcome="promoted") == 1
    assert value(ex, "driftline_serving_version_info", model_id="fraud", version="4") == 1
    assert value(ex, "driftline_serving_version_info", model_id="fraud", version="3") is None
    ex.forget_lag(0, topic="p")
    assert value(ex, "driftline_consumer_lag", topic="p", partition="0") is None


def test_retrain_outcomes_stay_a_bounded_label():
    ex = MetricsExporter()
    for i in range(40):
        ex.observe_retrain(f"outcome-{i}")
    outcomes = {dict(k[1])["outcome"] for k in samples(ex) if k[0] == "driftline_retrains_total"}
    assert len(outcomes) <= 17 and "other" in outcomes


def test_promtool_finds_nothing_to_report():
    promtool = shutil.which("promtool")
    if promtool is None:
        if IN_CI:
            pytest.fail("promtool is required in CI (Debian package prometheus)")
        pytest.skip("promtool not installed (Debian package prometheus)")
    ex = MetricsExporter(max_models=1, process_collectors=True)
    ex.observe_metrics({**metrics_event(features={"amount": {"count": 1, "missing_rate": 0.0, "mean": 1.0,
                                                            "std": 0.0}}).to_dict(),
                        "drift": [{"detector": "ks", "feature": "amount", "statistic": 0.1, "threshold": 0.2}]})
    ex.observe_metrics(metrics_event(model_id="other-model"))
    ex.observe_alert(alert())
    ex.observe_dead_letter("missing field 'ts'")
    ex.set_lag(0, 3, topic="p")
    ex.set_state_bytes("fraud", 10)
    ex.observe_retrain("promoted", model_id="fraud")
    ex.set_serving("fraud", "3")
    run = subprocess.run([promtool, "check", "metrics"], input=ex.render(), capture_output=True, timeout=30)
    assert (run.returncode, run.stdout, run.stderr) == (0, b"", b"")

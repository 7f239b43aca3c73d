"""The whole loop on a real broker and a real registry, and the README's demo command."""

from __future__ import annotations

import argparse
import io
import re
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from driftline.broker import free_port
from driftline.contract import Topics, decode_alert, decode_model_version, decode_retrain_request
from driftline.demo import run_service
from driftline.kafka_admin import ensure_topics
from driftline.processes import run_roles
from driftline.producers import Drift
from driftline.retrainer.persistence.registry import Registry
from driftline.settings import Settings
from tests.integration.kafka_io import read

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def loop_settings(bootstrap: str, home: Path) -> Settings:
    return Settings(kafka_bootstrap=bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                    home=str(home), partitions=2, batch_within_s=0.2,
                    retrain_cooldown_ms=30_000, retrain_wait_s=60, metrics_every=2000)


def test_abrupt_concept_drift_is_detected_retrained_and_served(kafka_bootstrap, tmp_path):
    s = loop_settings(kafka_bootstrap, tmp_path)
    ensure_topics(s)
    model_id = "loop"
    drift = 8_000
    args = argparse.Namespace(stream="agrawal", drift=[Drift(drift)], seed=11, rate=1000.0,
                              feedback_delay_ms=1000, feedback_fraction=0.8, events=18_000,
                              model_id=model_id)
    t = Topics(s.topic_prefix)

    def champions(records: list) -> int:
        return sum(decode_model_version(r.value).status == "champion" for r in records)

    def pace(stats) -> None:
        # The service waits for the loop at two points, so what is asserted is what the loop
        # does, not how fast a loaded machine runs it (a retrain takes seconds of wall time):
        # the first version is live before the drift, and the retrained one, trained on the
        # labels of the 4,000 events after it, serves the last 6,000.
        want = {6_000: 1, 12_000: 2}.get(stats.events)
        if want is not None:
            read(s.kafka_bootstrap, t.model_versions, until=lambda rs: champions(rs) >= want,
                 timeout_s=240)
            time.sleep(3)  # the service's model client loads the new version

    retrainer_port = free_port()
    with run_roles(s, ["monitor", "retrainer"], tmp_path / "logs",
                   env_of={"retrainer": {"DRIFTLINE_HTTP_PORT": str(retrainer_port)}}):
        report = run_service(s, args, stop=None, out=io.StringIO(), model_id=model_id,
                             on_progress=pace)
        with urllib.request.urlopen(f"http://127.0.0.1:{retrainer_port}/metrics", timeout=10) as answer:
            retrainer_metrics = answer.read().decode()
    alerts = [decode_alert(r.value) for r in read(s.kafka_bootstrap, t.alerts, until=lambda r: False,
                                                  timeout_s=3)]
    requests = [decode_retrain_request(r.value)
                for r in read(s.kafka_bootstrap, t.retrain_requests, until=lambda r: False, timeout_s=3)]
    versions = [decode_model_version(r.value)
                for r in read(s.kafka_bootstrap, t.model_versions, until=lambda r: False, timeout_s=3)]

    concept = [a for a in alerts if a.kind in ("concept_drift", "performance")]
    assert concept, alerts
    # One request for the first version, one for the drift: debounced, not one per alert.
    assert len(requests) == 2, requests
    assert requests[0].alert_ids == [] and set(requests[1].alert_ids) <= {a.alert_id for a in concept}
    assert [v.status for v in versions] == ["champion", "champion"]
    assert versions[1].parent_version == versions[0].version
    assert versions[1].request_id == requests[1].request_id

    # The retrainer's /metrics: both requests promoted a version, the second one serves.
    assert f'driftline_retrains_total{{model_id="{model_id}",outcome="promoted"}} 2.0' in retrainer_metrics
    assert (f'driftline_serving_version_info{{model_id="{model_id}",version="{versions[1].version}"}} 1.0'
            in retrainer_metrics), retrainer_metrics

    changes = report.version_changes()
    assert [v for _, v in changes] == [versions[0].version, versions[1].version]
    swap = changes[1][0]
    assert drift < swap < 18_000
    before = report.accuracy(drift, swap)
    after = report.accuracy(swap, 18_000)
    assert after > before + 0.2, (before, after)

    registry = Registry(s.resolved_registry_url)
    try:
        champion = registry.champion(model_id)
        assert champion.version == versions[1].version and champion.sha256 == versions[1].sha256
        assert champion.alert_ids == requests[1].alert_ids
        assert champion.window["since_ts"] == requests[1].since_ts
        assert [v.status for v in registry.versions(model_id)] == ["archived", "champion"]
    finally:
        registry.close()


def test_readme_demo_command_closes_the_loop(demo_run):
    out = demo_run.stdout
    assert demo_run.returncode == 0, out[-3000:] + demo_run.stderr[-3000:]
    summary = demo_run.summary
    assert "drift            at event 12000 (abrupt)" in summary
    alert_at = int(re.search(r"alert            at event (\d+)", summary).group(1))
    live_at = int(re.search(r"live             at event (\d+)", summary).group(1))
    assert 12000 <= alert_at < live_at < 24000
    acc = [float(x) for x in re.findall(r"([\d.]+)%", summary.split("accuracy ")[-1])]
    before, drifted, after = acc
    assert after > drifted
    assert "loop closed      yes" in summary

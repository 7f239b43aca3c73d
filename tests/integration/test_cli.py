"""`driftline alerts` and `driftline models` as an ops person runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from driftline.contract import Alert, Topics
from driftline.kafka_admin import ensure_topics
from driftline.processes import settings_env
from driftline.retrainer.registry import Registry
from tests.integration.kafka_io import produce


def driftline(settings, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "driftline", *args],
                          env=env or settings_env(settings), capture_output=True, text=True,
                          timeout=120)


@pytest.mark.broker
def test_alerts_follow_the_topic_readable_and_as_json(settings):
    ensure_topics(settings)
    alert = Alert("a1", "fraud", "3", "concept_drift", "critical", "adwin", None, 0.31, 0.2,
                  1732356000123, 1732356000999, "error rate rose from 0.20 to 0.31")
    other = Alert("a2", "spam", "1", "data_drift", "warning", "ks", "amount", 0.4, 0.1, 1, 2, "m")
    produce(settings.kafka_bootstrap, Topics(settings.topic_prefix).alerts,
            [(other.key, other.encode()), (alert.key, alert.encode())])
    done = driftline(settings, "alerts", "--from-beginning", "--json", "--model-id", "fraud",
                     "--max", "1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == alert.to_dict()
    human = driftline(settings, "alerts", "--from-beginning", "--timeout", "2")
    lines = human.stdout.strip().splitlines()
    assert len(lines) == 2 and "CRITICAL" in lines[1] and "concept_drift/adwin" in lines[1]
    assert "feature=amount" in lines[0]


def test_alerts_without_a_broker_is_one_line(settings_factory):
    s = settings_factory(kafka_bootstrap="127.0.0.1:1")
    done = driftline(s, "alerts")
    assert done.returncode == 1
    assert done.stderr.strip() == ("driftline alerts: error: no Kafka broker answered at "
                                   "127.0.0.1:1; start one with 'driftline broker start' or set "
                                   "DRIFTLINE_KAFKA_BOOTSTRAP")


def test_models_lists_the_registry(tmp_path):
    env = {**os.environ, "DRIFTLINE_HOME": str(tmp_path)}
    empty = subprocess.run([sys.executable, "-m", "driftline", "models"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert empty.returncode == 0 and "no models registered" in empty.stdout
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    try:
        registry.register("fraud", status="champion", parent_version=None, request_id="r1",
                          alert_ids=[], window={"n_examples": 1200},
                          metrics={"holdout_accuracy": 0.91}, artifact_uri=None, sha256=None,
                          reason="first", trainer="t", features=["amount"])
    finally:
        registry.close()
    table = subprocess.run([sys.executable, "-m", "driftline", "models"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert "fraud" in table.stdout and "champion" in table.stdout and "0.910" in table.stdout
    rows = subprocess.run([sys.executable, "-m", "driftline", "models", "show", "fraud", "--json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(rows.stdout)["version"] == "1"
    missing = subprocess.run([sys.executable, "-m", "driftline", "models", "show", "nope"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no model 'nope'" in missing.stderr


class Const:
    """A model that always answers the same."""

    def __init__(self, answer: int) -> None:
        self.answer = answer

    def predict_one(self, x: dict) -> int:
        return self.answer


@pytest.mark.broker
def test_rollback_and_promote_by_hand_swap_the_serving_model(settings):
    from driftline.producers import ModelClient
    from driftline.retrainer.artifacts import ArtifactStore

    ensure_topics(settings)
    store = ArtifactStore(settings.artifact_path)
    with Registry(settings.resolved_registry_url) as registry:
        for n in (1, 2):
            uri, sha = store.put("m", str(n), Const(n))
            registry.register("m", status="champion", parent_version=None, request_id=f"r{n}",
                              alert_ids=[], window={}, metrics={"holdout_accuracy": 0.5 + n / 10},
                              artifact_uri=uri, sha256=sha, reason="test", trainer="t",
                              features=["x"])
        client = ModelClient("m", registry=registry, store=store, settings=settings)
        try:
            assert client.predict({"x": 1.0}) == (2, "2")
            done = driftline(settings, "models", "rollback", "m")
            assert done.returncode == 0, done.stderr
            assert "v1 is champion (rolled back by hand from v2)" in done.stdout
            assert client.wait_for_version("1", timeout=30)
            assert client.predict({"x": 1.0}) == (1, "1")
            assert [v.status for v in registry.versions("m")] == ["champion", "demoted"]
            done = driftline(settings, "models", "promote", "m", "2")
            assert done.returncode == 0, done.stderr
            assert client.wait_for_version("2", timeout=30)
        finally:
            client.close()
    refused = driftline(settings, "models", "promote", "m", "7")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "driftline models: error: no version '7' of model 'm'"

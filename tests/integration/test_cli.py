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
from driftline.retrainer.persistence.registry import Registry
from tests.integration.kafka_io import produce


def driftline(settings, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    if env is None:
        env = settings_env(settings)
    return subprocess.run([sys.executable, "-m", "driftline", *args], env=env,
                          capture_output=True, text=True, timeout=120)


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


def _models(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "driftline", "models", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_models_lists_the_registry(tmp_path):
    env = {**os.environ, "DRIFTLINE_HOME": str(tmp_path)}
    empty = _models(env)
    assert empty.returncode == 0 and "no models registered" in empty.stdout
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    try:
        registry.register("fraud", status="champion", parent_version=None, request_id="r1",
                          alert_ids=[], window={"n_examples": 1200},
                          metrics={"holdout_accuracy": 0.91}, artifact_uri=None, sha256=None,
                          reason="first", trainer="t", features=["amount"])
    finally:
        registry.close()
    table = _models(env)
    assert "fraud" in table.stdout and "v1" in table.stdout and "0.910" in table.stdout
    [line] = _models(env, "list", "--json").stdout.splitlines()
    assert json.loads(line)["champion"]["version"] == "1"
    doc = json.loads(_models(env, "show", "fraud", "--json").stdout)
    assert doc["champion"]["version"] == "1" and doc["registration"] is None
    missing = _models(env, "show", "nope")
    assert missing.returncode == 1 and "no model 'nope'" in missing.stderr


def test_models_register_show_and_history(tmp_path):
    env = {**os.environ, "DRIFTLINE_HOME": str(tmp_path)}
    zoo = "tests.retrainer.trainer_zoo"
    done = _models(env, "register", "fraud", "--trainer", f"{zoo}:nearest_mean", "--param", "scale=2.5",
                   "--param", "kind=tree", "--gate-margin", "0.02")
    assert done.returncode == 0, done.stderr
    assert f"trainer:  {zoo}:nearest_mean  params: {{\"kind\": \"tree\", \"scale\": 2.5}}" in done.stdout
    updated = json.loads(_models(env, "register", "fraud", "--task", "regression", "--gate-metric",
                                 "RMSE", "--json").stdout)
    assert (updated["task"], updated["trainer_params"], updated["gate_margin"], updated["gate_metric"]) == (
        "regression", {"scale": 2.5, "kind": "tree"}, 0.02, "rmse")
    with Registry(f"sqlite:///{tmp_path / 'registry.db'}") as registry:
        window = {"topic": "driftline.labeled", "offsets": {"0": {"start": 10, "end": 1210}},
                  "first_ts": 1732356000000, "until_ts": 1732359600000, "n_examples": 1200}
        for n in (1, 2):
            registry.start_run("fraud", f"q{n}", "w1", [f"alert-{n}"])
            registry.register("fraud", status="champion", parent_version=str(n - 1) if n > 1 else None,
                              request_id=f"q{n}", alert_ids=[f"alert-{n}"], window=window,
                              metrics={"holdout_accuracy": 0.9, "champion_holdout_accuracy": 0.7,
                                       "baseline_accuracy": 0.6},
                              artifact_uri=None, sha256=None, reason=f"promoted: v{n}",
                              trainer=f"{zoo}:nearest_mean", features=["x"])
        registry.fail_run("fraud", "q3", "the trainer cannot be loaded", "w2")
    show = _models(env, "show", "fraud").stdout
    for part in ("task:     regression", "champion: v2", "request:  q2  alerts: alert-2",
                 "driftline.labeled [p0:10-1210], event time 2024-11-23 10:00:00 .. 2024-11-23 11:00:00",
                 "challenger 0.900, champion then 0.700", "lineage:  v2 <- v1"):
        assert part in show, (part, show)
    history = _models(env, "history", "fraud").stdout.splitlines()
    assert len(history) == 4 and "replaced by v2" in history[1]
    assert "run failed" in history[3] and "the trainer cannot be loaded" in history[3]
    kinds = [json.loads(line)["kind"] for line in _models(env, "history", "fraud", "--json").stdout.splitlines()]
    assert kinds == ["version", "version", "run"]


def test_models_without_a_database_is_one_line(tmp_path):
    env = {**os.environ, "DRIFTLINE_HOME": str(tmp_path),
           "DRIFTLINE_REGISTRY_URL": "postgresql+psycopg://ops:secret@127.0.0.1:1/registry"}
    done = _models(env, "list")
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("driftline models: error: cannot open the registry at "
                           "postgresql+psycopg://ops:***@127.0.0.1:1/registry: ")
    assert "secret" not in done.stderr


@pytest.mark.parametrize("args, message", [
    (["register", "m", "--trainer", "nowhere:fit"],
     "argument --trainer: trainer 'nowhere:fit': cannot import 'nowhere': No module named 'nowhere'"),
    (["register", "m", "--param", "depth"], "argument --param: expected KEY=VALUE, got 'depth'"),
    (["register", "m", "--gate-margin", "-1"], "argument --gate-margin: expected a number >= 0, got -1.0"),
    (["register", "m", "--task", "ranking"], "argument --task: invalid choice: 'ranking'"),
    (["register", "m", "--gate-metric", "auc"],
     "argument --gate-metric: expected one of accuracy, f1, log_loss, mae, rmse, got 'auc'"),
    (["promote", "m"], "the following arguments are required: VERSION"),
])
def test_models_bad_arguments_are_one_line(tmp_path, args, message):
    env = {**os.environ, "DRIFTLINE_HOME": str(tmp_path)}
    done = _models(env, *args)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert message in line
    assert not (tmp_path / "registry.db").exists()  # refused before the registry is opened


class Const:
    """A model that always answers the same."""

    def __init__(self, answer: int) -> None:
        self.answer = answer

    def predict_one(self, x: dict) -> int:
        return self.answer


@pytest.mark.broker
def test_rollback_and_promote_by_hand_swap_the_serving_model(settings):
    from driftline.producers import ModelClient
    from driftline.retrainer.persistence.artifacts import ArtifactStore

    ensure_topics(settings)
    store = ArtifactStore.from_settings(settings)
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

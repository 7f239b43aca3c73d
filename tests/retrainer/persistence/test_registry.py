"""The registry: version numbers, champion archiving, one version per request, JSON fields."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from driftline.retrainer.exceptions import RegistryError
from driftline.retrainer.persistence.registry import Registry, VersionRecord


@pytest.fixture
def registry(registry_url: str) -> Iterator[Registry]:
    """A registry on each database the suite has (SQLite, PostgreSQL)."""
    reg = Registry(registry_url)
    yield reg
    reg.close()


def register(registry: Registry, model_id: str = "fraud", status: str = "champion",
             request_id: str | None = None, **overrides: Any) -> VersionRecord:
    fields: dict[str, Any] = dict(
        parent_version=None, request_id=request_id, alert_ids=[], window={}, metrics={},
        artifact_uri=None, sha256=None, reason="test", trainer="t:f", features=["x"],
    )
    fields.update(overrides)
    return registry.register(model_id, status=status, **fields)


def test_versions_are_numbered_per_model(registry: Registry) -> None:
    assert [register(registry, "fraud").version for _ in range(3)] == ["1", "2", "3"]
    assert register(registry, "churn").version == "1"
    assert registry.models() == ["churn", "fraud"]
    assert [v.version for v in registry.versions("fraud")] == ["1", "2", "3"]
    assert registry.versions("unknown") == []


def test_a_champion_archives_the_previous_one(registry: Registry) -> None:
    register(registry, status="champion", request_id="q1")
    register(registry, status="rejected", request_id="q2")
    assert registry.champion("fraud").version == "1"  # a rejection changes nothing
    register(registry, status="champion", request_id="q3")
    assert [(v.version, v.status) for v in registry.versions("fraud")] == [
        ("1", "archived"), ("2", "rejected"), ("3", "champion")]
    assert registry.champion("fraud").request_id == "q3"
    assert registry.champion("churn") is None


def test_a_request_is_registered_once(registry: Registry) -> None:
    first = register(registry, request_id="q1", status="champion")
    again = register(registry, request_id="q1", status="rejected", reason="a second attempt")
    assert again == first
    assert len(registry.versions("fraud")) == 1
    assert registry.find_by_request("fraud", "q1") == first
    assert registry.find_by_request("churn", "q1") is None
    # Requests without an id (registered by hand) never collide.
    assert register(registry).version != register(registry).version


def test_two_registries_on_one_database_make_one_version_per_request(registry_url: str) -> None:
    a, b = Registry(registry_url), Registry(registry_url)
    try:
        results: list[VersionRecord] = []
        lock = threading.Lock()

        def work(reg: Registry, request_id: str) -> None:
            record = register(reg, request_id=request_id, status="champion")
            with lock:
                results.append(record)

        # Every request is sent by both registries, from 12 threads at once.
        threads = [threading.Thread(target=work, args=(reg, f"q{i}"))
                   for i in range(6) for reg in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        versions = a.versions("fraud")
        assert len(results) == 12
        assert sorted(v.request_id for v in versions) == [f"q{i}" for i in range(6)]
        assert [v.version for v in versions] == [str(i) for i in range(1, 7)]
        assert {r.request_id: r.version for r in results} == {v.request_id: v.version for v in versions}
        assert [v.status for v in versions].count("champion") == 1
    finally:
        a.close()
        b.close()


def test_fields_round_trip(registry_url: str) -> None:
    window = {"topic": "driftline.labeled", "since_ts": 1732356000123, "until_ts": 1732356999999,
              "n_examples": 1234, "offsets": {"0": {"start": 5, "end": 900}, "2": {"start": 0, "end": 0}}}
    metrics = {"holdout_accuracy": 0.912345678, "champion_holdout_accuracy": None,
               "baseline_accuracy": 0.5, "n_train": 800, "n_holdout": 343}
    with Registry(registry_url) as registry:
        written = register(registry, "fraud-€", request_id="q1", parent_version="7", alert_ids=["a1", "a2"],
                           window=window, metrics=metrics, artifact_uri="file:///x/1.pkl",
                           sha256="ab" * 32, reason="promoted: because", trainer="pkg.mod:fit",
                           features=["amount", "country", "größe"])
    with Registry(registry_url) as reopened:  # what was written is on disk, not in a cache
        read = reopened.get("fraud-€", "1")
    assert read == written
    assert (read.window, read.metrics, read.alert_ids) == (window, metrics, ["a1", "a2"])
    assert read.features == ["amount", "country", "größe"]
    assert isinstance(read.created_at, int) and read.created_at > 1_600_000_000_000


def test_a_sqlite_file_gets_its_directories(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "registry.db"
    with Registry(f"sqlite:///{path}") as registry:
        register(registry)
    assert path.is_file()


def test_lookups_of_unknown_versions(registry: Registry) -> None:
    register(registry)
    assert registry.get("fraud", "2") is None
    assert registry.get("fraud", "not-a-number") is None
    assert registry.get("churn", "1") is None


@pytest.mark.parametrize("status", ["archived", "staging", ""])
def test_only_champions_and_rejections_are_registered(registry: Registry, status: str) -> None:
    with pytest.raises(RegistryError, match="status must be one of"):
        register(registry, status=status)
    assert registry.versions("fraud") == []


def test_a_registration_is_created_then_updated_field_by_field(registry: Registry) -> None:
    assert registry.model("fraud") is None
    first = registry.register_model("fraud", trainer="pkg.mod:fit", trainer_params={"depth": 3})
    assert (first.task, first.trainer, first.trainer_params, first.gate_metric, first.gate_margin) == (
        "classification", "pkg.mod:fit", {"depth": 3}, None, None)  # None: the worker's settings
    updated = registry.register_model("fraud", gate_margin=0.02, task="regression", gate_metric="rmse")
    assert (updated.trainer, updated.trainer_params, updated.gate_margin, updated.task,
            updated.gate_metric) == ("pkg.mod:fit", {"depth": 3}, 0.02, "regression", "rmse")
    assert registry.register_model("fraud", gate_metric="").gate_metric is None
    assert updated.created_at == first.created_at and updated.updated_at >= first.updated_at
    assert registry.register_model("fraud", trainer="").trainer is None  # back to the worker's default
    assert registry.model("fraud").gate_margin == 0.02
    assert registry.models() == ["fraud"]  # registered, though it has no version yet


@pytest.mark.parametrize("kwargs, message", [
    ({"task": "ranking"}, "task must be one of"),
    ({"gate_margin": -0.1}, "gate margin must be a number >= 0"),
    ({"gate_metric": "auc"}, "gate metric must be one of"),
    ({"trainer_params": ["a"]}, "trainer parameters must be a dict"),
])
def test_a_bad_registration_is_refused(registry: Registry, kwargs: dict, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        registry.register_model("fraud", **kwargs)
    assert registry.model("fraud") is None


def test_lineage_reference_and_trainer_params_are_kept(registry: Registry) -> None:
    reference = {"features": {"amount": {"kind": "number", "quantiles": [0.5, 1.5, 9.0]}},
                 "n": 1000, "nested": [{"a": None}]}
    register(registry, request_id="q1")
    register(registry, request_id="q2", status="rejected", parent_version="1")
    v3 = register(registry, request_id="q3", parent_version="1", trainer_params={"passes": 2},
                  reference=reference)
    assert (v3.reference, v3.trainer_params) == (reference, {"passes": 2})
    assert registry.get("fraud", "3") == v3
    assert register(registry).reference is None
    assert [v.version for v in registry.lineage("fraud", "3")] == ["3", "1"]
    assert registry.lineage("fraud", "9") == []
    archived = registry.get("fraud", "1")
    assert (archived.status, archived.status_reason) == ("archived", "replaced by v3")


def test_a_run_is_one_row_per_request_and_closes_with_its_version(registry: Registry) -> None:
    run = registry.start_run("fraud", "q1", "worker-a", alert_ids=["a1"])
    assert (run.state, run.attempts, run.worker_id, run.alert_ids) == ("started", 1, "worker-a", ["a1"])
    # worker-a died; worker-b takes the request over.
    again = registry.start_run("fraud", "q1", "worker-b")
    assert (again.state, again.attempts, again.worker_id) == ("started", 2, "worker-b")
    record = register(registry, request_id="q1", reason="promoted: fine")
    done = registry.run("fraud", "q1")
    assert (done.state, done.version, done.outcome, done.attempts) == (
        "finished", record.version, "promoted: fine", 2)
    assert done.finished_at >= done.started_at
    # A finished run is not started again: the caller republishes instead of training.
    assert registry.start_run("fraud", "q1", "worker-c") == done
    failed = registry.fail_run("fraud", "q2", "model 'fraud' is not registered", "worker-c")
    assert (failed.state, failed.version, failed.outcome) == (
        "failed", None, "model 'fraud' is not registered")
    assert [r.request_id for r in registry.runs("fraud")] == ["q1", "q2"]
    assert registry.runs("churn") == [] and registry.run("fraud", "q9") is None


def test_two_workers_starting_one_request_share_one_run(registry_url: str) -> None:
    a, b = Registry(registry_url), Registry(registry_url)
    try:
        threads = [threading.Thread(target=reg.start_run, args=("fraud", f"q{i}", name))
                   for i in range(4) for reg, name in ((a, "a"), (b, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        runs = a.runs("fraud")
        assert sorted(r.request_id for r in runs) == ["q0", "q1", "q2", "q3"]
        assert {r.attempts for r in runs} == {2}
    finally:
        a.close()
        b.close()

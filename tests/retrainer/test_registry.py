"""The registry: version numbers, champion archiving, one version per request, JSON fields."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from driftline.retrainer.exceptions import RegistryError
from driftline.retrainer.registry import Registry, VersionRecord


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

"""No code runs from data: a record on model-versions never makes a service load a file.

The attack tried from outside: anyone with produce rights on ``model-versions``
writes a record whose ``artifact_uri`` names a crafted pickle and whose
``sha256`` is that pickle's hash. Against the real registry, artifact store,
broker and ``ModelClient``: the pickle is never opened, and when the attacker
also writes the registry, the pickle is refused for its signature before it
is unpickled.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import time
from pathlib import Path

import pytest

from driftline.contract import ModelVersion
from driftline.producers import EventPublisher, ModelClient
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.registry import Registry
from driftline.retrainer.persistence.signing import seal
from driftline.settings import Settings

from .fakes import Constant

pytestmark = pytest.mark.broker

KEY = "the-services-and-retrainers-key"


class Crafted:
    """Unpickling it writes ``marker``: proof that code from the attacker ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def crafted_file(tmp_path: Path, marker: Path, data: bytes | None = None) -> tuple[str, str]:
    path = tmp_path / "v666.pkl"
    path.write_bytes(pickle.dumps(Crafted(marker)) if data is None else data)
    return path.as_uri(), hashlib.sha256(path.read_bytes()).hexdigest()


def record(version: str, uri: str | None, sha: str | None) -> ModelVersion:
    return ModelVersion(model_id="fraud", version=version, status="champion", parent_version=None,
                        request_id=None, artifact_uri=uri, sha256=sha, metrics={}, ts=0)


def register(registry: Registry, store: ArtifactStore, value: str) -> ModelVersion:
    uri, sha = store.put("fraud", "next", Constant(value))
    version = registry.register("fraud", status="champion", parent_version=None, request_id=None,
                                alert_ids=[], window={}, metrics={}, artifact_uri=uri, sha256=sha,
                                reason="test", trainer="t:f", features=["x"])
    return version.announcement(0)


@pytest.fixture
def service(settings: Settings, topics, tmp_path: Path):
    s = settings.replace(artifact_key=KEY, home=str(tmp_path / "home"))
    registry = Registry(s.resolved_registry_url)
    store = ArtifactStore.from_settings(s)
    register(registry, store, "v1")
    client = ModelClient.from_settings("fraud", s)
    assert client.version == "1"
    # Past the topic's history: each record from now on is handed on as it comes.
    assert client._feed.caught_up.wait(20)
    try:
        yield s, registry, store, client
    finally:
        client.close()
        registry.close()


def _until(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_a_crafted_record_loads_nothing_and_changes_no_version(service, tmp_path: Path, caplog) -> None:
    settings, registry, store, client = service
    marker = tmp_path / "ran"
    uri, sha = crafted_file(tmp_path, marker)
    with caplog.at_level(logging.WARNING, logger="driftline.producers.model_client"), \
            EventPublisher(settings) as publisher:
        publisher.publish(record("666", uri, sha))
        # A real champion after it, on the same partition: once it serves, the crafted record was read.
        publisher.publish(register(registry, store, "v2"))
        publisher.flush()
        assert client.wait_for_version("2", timeout=20)
    assert not marker.exists()
    assert client.predict({"x": 1}) == ("v2", "2")
    assert [v for v, _ in client.swaps] == ["2"] and client.load_errors == []
    # Whichever champion the registry had when the crafted record was read, 1 or 2, was served.
    assert "announced version 666 as champion, the registry's champion is " in caplog.text


def test_with_the_registry_written_too_the_crafted_pickle_is_refused_unopened(service, tmp_path: Path,
                                                                              caplog) -> None:
    settings, registry, store, client = service
    marker = tmp_path / "ran"
    unsigned = crafted_file(tmp_path, marker)
    # The attacker's own key: a signature driftline's key does not verify.
    forged = crafted_file(tmp_path / "..", marker,
                          seal(pickle.dumps(Crafted(marker)), model_id="fraud", fmt="pickle",
                               key=b"the attacker's key of 32 bytes.."))
    with caplog.at_level(logging.ERROR, logger="driftline.producers.model_client"), \
            EventPublisher(settings) as publisher:
        for uri, sha in (unsigned, forged):
            hijacked = registry.register("fraud", status="champion", parent_version=None, request_id=None,
                                         alert_ids=[], window={}, metrics={}, artifact_uri=uri, sha256=sha,
                                         reason="written by the attacker", trainer="t:f", features=["x"])
            publisher.publish(hijacked.announcement(0))
            publisher.flush()
            assert _until(lambda: any(v == hijacked.version for v, _ in client.load_errors))
    assert not marker.exists()
    assert client.predict({"x": 1}) == ("v1", "1") and client.swaps == []
    reasons = dict(client.load_errors)
    assert "refused: it is not signed" in reasons["2"]
    assert "refused: it was signed with another key" in reasons["3"]
    lines = [r.getMessage() for r in caplog.records if "not loaded" in r.getMessage()]
    assert len(lines) == 2 and all("\n" not in line for line in lines)

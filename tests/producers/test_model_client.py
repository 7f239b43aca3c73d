from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from driftline.contract import ModelVersion
from driftline.producers.model_client import ModelClient
from driftline.producers.publisher import EventPublisher

from .fakes import Constant, FileStore, FixedRegistry, VersionRecord


def announce(version: str, uri: str | None, sha256: str | None, *, model_id: str = "m",
             status: str = "champion") -> ModelVersion:
    return ModelVersion(
        model_id=model_id, version=version, status=status, parent_version=None, request_id=None,
        artifact_uri=uri, sha256=sha256, metrics={}, ts=0,
    )


@pytest.fixture
def store(tmp_path) -> FileStore:
    return FileStore(tmp_path)


def client_with(store: FileStore, version: str | None = "1", **kw) -> ModelClient:
    record = None
    if version is not None:
        uri, sha = store.save(Constant(f"v{version}"), version)
        record = VersionRecord("m", version, uri, sha)
    return ModelClient("m", registry=FixedRegistry(record), store=store, follow=False, **kw)


def promote(client: ModelClient, record: VersionRecord) -> None:
    """Make ``record`` the champion in the client's registry, as the retrainer does before announcing."""
    client._registry.record = record  # the FixedRegistry the client was made with


def champion(store: FileStore, version: str, value=None) -> VersionRecord:
    uri, sha = store.save(Constant(f"v{version}" if value is None else value), version)
    return VersionRecord("m", version, uri, sha)


# What an announcement names is never loaded: every test's records point here.
NOWHERE, NO_SHA = "file:///nowhere.pkl", "0" * 64


# ---------------------------------------------------------------- without a broker


def test_starts_from_the_registry_champion(store: FileStore) -> None:
    client = client_with(store, "1")
    assert client.predict({"a": 1}) == ("v1", "1")
    assert client.version == "1"
    assert client.swaps == []


def test_without_a_champion_it_answers_the_fallback_as_version_0(store: FileStore) -> None:
    assert client_with(store, None).predict({}) == (0, "0")
    assert client_with(store, None, fallback="no").predict({}) == ("no", "0")


def test_a_new_champion_is_swapped_in(store: FileStore) -> None:
    client = client_with(store, "1")
    promote(client, champion(store, "2"))
    before = time.monotonic()
    assert client.apply(announce("2", NOWHERE, NO_SHA))
    assert client.predict({}) == ("v2", "2")
    [(version, at)] = client.swaps
    assert version == "2" and at >= before


@pytest.mark.parametrize(
    "event",
    [
        announce("1", "file:///nope", "00"),  # the version already served
        announce("2", "file:///nope", "00", model_id="other"),
        announce("2", "file:///nope", "00", status="rejected"),
    ],
    ids=["same-version", "other-model", "rejected"],
)
def test_announcements_that_do_not_concern_the_client_are_ignored(store: FileStore, event) -> None:
    client = client_with(store, "1")
    assert not client.apply(event)
    assert client.predict({}) == ("v1", "1")
    assert client.load_errors == []


def test_an_announcement_the_registry_does_not_back_changes_nothing(store: FileStore, caplog) -> None:
    client = client_with(store, "1")
    evil = champion(store, "666", value="evil")
    with caplog.at_level(logging.WARNING, logger="driftline.producers.model_client"):
        assert not client.apply(announce("666", evil.artifact_uri, evil.sha256))
    assert client.predict({}) == ("v1", "1")
    assert len(store.loads) == 1  # only the starting champion: the record's file was never read
    assert "announced version 666 as champion, the registry's champion is 1" in caplog.text


def test_the_registry_champion_is_served_whatever_the_record_says(store: FileStore) -> None:
    client = client_with(store, "1")
    promote(client, champion(store, "3"))
    # A stale or forged record about version 2: the registry says 3, so 3 it is, from its own artifact.
    assert client.apply(announce("2", NOWHERE, NO_SHA))
    assert client.predict({}) == ("v3", "3")
    assert store.loads[-1] == client._registry.record.artifact_uri


def test_a_hash_mismatch_keeps_the_old_model_and_logs_an_error(store: FileStore, caplog) -> None:
    client = client_with(store, "1")
    uri, _ = store.save(Constant("evil"), "2")
    promote(client, VersionRecord("m", "2", uri, "0" * 64))
    with caplog.at_level(logging.ERROR, logger="driftline.producers.model_client"):
        assert not client.apply(announce("2", NOWHERE, NO_SHA))
    assert client.predict({}) == ("v1", "1")
    [(version, reason)] = client.load_errors
    assert version == "2" and "HashMismatch" in reason
    assert "version 2 not loaded, still serving version 1" in caplog.text
    # Once the registry's record is right, the next announcement goes through.
    promote(client, champion(store, "2"))
    assert client.apply(announce("2", NOWHERE, NO_SHA))
    assert client.version == "2"


def test_a_champion_without_an_artifact_is_not_loaded(store: FileStore) -> None:
    client = client_with(store, "1")
    promote(client, VersionRecord("m", "2", None, None))
    assert not client.apply(announce("2", NOWHERE, NO_SHA))
    assert client.version == "1"
    assert "no artifact_uri" in client.load_errors[0][1]


def test_a_corrupt_starting_artifact_leaves_the_fallback(store: FileStore) -> None:
    uri, _ = store.save(Constant("v1"), "1")
    client = ModelClient(
        "m", registry=FixedRegistry(VersionRecord("m", "1", uri, "bad")), store=store, follow=False,
    )
    assert client.predict({}) == (0, "0")
    assert client.load_errors[0][0] == "1"


def test_model_answers_are_made_json_friendly(store: FileStore) -> None:
    uri, sha = store.save(Constant(np.int64(1)), "n")
    client = ModelClient("m", registry=FixedRegistry(VersionRecord("m", "1", uri, sha)), store=store, follow=False)
    prediction, _ = client.predict({})
    assert type(prediction) is int
    client._registry = FixedRegistry(VersionRecord("m", "2", *store.save(Constant(None), "none")))
    client.apply(announce("2", NOWHERE, NO_SHA))
    assert client.predict({}) == (0, "2")


def test_wait_for_version(store: FileStore) -> None:
    client = client_with(store, "1")
    promote(client, champion(store, "2"))
    timer = threading.Timer(0.1, client.apply, args=(announce("2", NOWHERE, NO_SHA),))
    timer.start()
    assert client.wait_for_version("2", timeout=5)
    timer.join()
    assert not client.wait_for_version("3", timeout=0.05)
    assert client.wait_for_version("2", timeout=0)


def test_swaps_never_mix_a_model_with_another_version(store: FileStore) -> None:
    client = client_with(store, "0")
    records = [champion(store, str(i)) for i in range(1, 30)]
    stop = threading.Event()
    seen: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            while not stop.is_set():
                seen.append(client.predict({}))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    for i, record in enumerate(records, start=1):
        promote(client, record)
        assert client.apply(announce(str(i), NOWHERE, NO_SHA))
    stop.set()
    thread.join()
    assert not errors
    assert seen and all(prediction == f"v{version}" for prediction, version in seen)
    assert [v for v, _ in client.swaps] == [str(i) for i in range(1, 30)]


def test_following_needs_settings(store: FileStore) -> None:
    with pytest.raises(ValueError, match="follow=True needs settings"):
        ModelClient("m", registry=FixedRegistry(), store=store)


# ---------------------------------------------------------------- on a real broker


@pytest.mark.broker
def test_follows_champions_published_on_kafka(store: FileStore, settings, topics) -> None:
    uri1, sha1 = store.save(Constant("v1"), "1")
    registry = FixedRegistry(VersionRecord("m", "1", uri1, sha1))
    with ModelClient("m", registry=registry, store=store, settings=settings) as client, \
            EventPublisher(settings) as publisher:
        stop = threading.Event()
        answers: list[tuple[str, str]] = []
        errors: list[BaseException] = []

        def serve() -> None:
            try:
                while not stop.is_set():
                    answers.append(client.predict({"x": 1.0}))
                    time.sleep(0.0005)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            publisher.publish(announce("2", NOWHERE, NO_SHA, model_id="other"))
            publisher.publish(announce("2", NOWHERE, NO_SHA, status="rejected"))
            time.sleep(0.5)  # neither is about a new champion of this model in the registry
            registry.record = champion(store, "2")
            publisher.publish(announce("2", NOWHERE, NO_SHA))
            publisher.flush()
            assert client.wait_for_version("2", timeout=20)

            uri3, _ = store.save(Constant("evil"), "3")
            registry.record = VersionRecord("m", "3", uri3, "f" * 64)
            publisher.publish(announce("3", NOWHERE, NO_SHA))
            publisher.flush()
            deadline = time.monotonic() + 20
            while not client.load_errors and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join()

    assert not errors
    assert client.version == "2"
    assert [v for v, _ in client.load_errors] == ["3"]
    assert [v for v, _ in client.swaps] == ["2"]
    versions = [v for _, v in answers]
    assert versions[0] == "1" and versions[-1] == "2"
    assert all(prediction == f"v{version}" for prediction, version in answers)


@pytest.mark.broker
def test_only_the_last_champion_in_the_history_is_loaded(store: FileStore, settings, topics) -> None:
    with EventPublisher(settings) as publisher:
        for version in ("2", "3", "4"):
            publisher.publish(announce(version, NOWHERE, NO_SHA))
    first = champion(store, "1")
    registry = FixedRegistry(first)

    def starting_then_newest(model_id: str) -> VersionRecord:
        # The client's first question finds v1; by the history's end the registry holds v4.
        registry.asked += 1
        return first if registry.asked == 1 else newest

    newest = champion(store, "4")
    registry.champion = starting_then_newest
    with ModelClient("m", registry=registry, store=store, settings=settings) as client:
        assert client.wait_for_version("4", timeout=20)
    assert [v for v, _ in client.swaps] == ["4"]
    assert registry.asked == 2  # once at start, once after the history, not once per old record
    assert len(store.loads) == 2  # the registry's champion, then version 4

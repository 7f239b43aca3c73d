"""The artifact store: atomic writes, and loads refused when the bytes are not what was recorded."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.exceptions import ArtifactIntegrityError


def test_put_then_load(store: ArtifactStore) -> None:
    uri, sha = store.put("fraud", "3", {"w": [1.5, 2.5]})
    path = ArtifactStore.path_of(uri)
    assert uri.startswith("file:///") and path.is_absolute() and path.is_file()
    assert path.parent == store.root / "fraud" and path.name.startswith("3-")
    assert store.load(uri, sha) == {"w": [1.5, 2.5]}
    assert store.load(uri, sha.upper()) == {"w": [1.5, 2.5]}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind


def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(
        store: ArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    uri, sha = store.put("fraud", "1", "old model")
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))

    def crash(src: str, dst: str) -> None:
        raise OSError("disk pulled out")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk pulled out"):
        store.put("fraud", "1", "new model")
    assert synced, "the bytes are fsynced before the rename"
    assert sorted(p.name for p in (store.root / "fraud").iterdir()) == [ArtifactStore.path_of(uri).name]
    assert store.load(uri, sha) == "old model"


def test_a_tampered_artifact_is_refused_before_unpickling(store: ArtifactStore, tmp_path: Path) -> None:
    uri, sha = store.put("fraud", "1", "honest model")
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple:
            return (open, (str(marker), "w"))

    ArtifactStore.path_of(uri).write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ArtifactIntegrityError, match=f"expected {sha}"):
        store.load(uri, sha)
    assert not marker.exists()


def test_a_flipped_byte_is_refused(store: ArtifactStore) -> None:
    uri, sha = store.put("fraud", "1", list(range(100)))
    path = ArtifactStore.path_of(uri)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError):
        store.load(uri, sha)


def test_a_missing_artifact(store: ArtifactStore) -> None:
    uri, sha = store.put("fraud", "1", "model")
    ArtifactStore.path_of(uri).unlink()
    with pytest.raises(ArtifactIntegrityError, match="cannot be read"):
        store.load(uri, sha)
    with pytest.raises(ArtifactIntegrityError):
        store.load((store.root / "never-written.pkl").as_uri(), sha)


@pytest.mark.parametrize("uri", ["file://otherhost/tmp/m.pkl", "/tmp/m.pkl"])
def test_a_local_artifact_is_named_by_a_local_file_uri(store: ArtifactStore, uri: str) -> None:
    with pytest.raises(ArtifactIntegrityError, match="not a local file"):
        store.load(uri, "0" * 64)


def test_a_url_whose_file_system_is_not_installed_cannot_be_read(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactIntegrityError, match="s3://bucket/model.pkl cannot be read"):
        store.load("s3://bucket/model.pkl", "0" * 64)


@pytest.mark.parametrize("model_id", ["..", "../../etc", "a/b", ".", "fraud%2F"])
def test_model_ids_stay_inside_the_root(store: ArtifactStore, model_id: str) -> None:
    uri, sha = store.put(model_id, "..", "model")
    path = ArtifactStore.path_of(uri)
    assert path.parent.parent == store.root
    assert store.load(uri, sha) == "model"


def test_same_version_different_content_never_overwrites(store: ArtifactStore) -> None:
    first = store.put("fraud", "1", "model a")
    second = store.put("fraud", "1", "model b")
    assert first[0] != second[0]
    assert store.load(*first) == "model a" and store.load(*second) == "model b"
    store.remove(second[0])
    assert not ArtifactStore.path_of(second[0]).exists()
    assert store.load(*first) == "model a"

"""DRIFTLINE_ARTIFACT_DIR as a folder, a file:// URL or another fsspec file system: the same checks on read."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import fsspec
import pytest

from driftline.retrainer.exceptions import ArtifactIntegrityError, ArtifactSignatureError
from driftline.retrainer.persistence.artifact_reader import ArtifactReader, read_bytes
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.settings import Settings

KEY = "driftline-tests-artifact-key-32b"


def _write(uri: str, data: bytes) -> None:
    with fsspec.open(uri, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("kind", ["folder", "file-url", "memory"])
def test_every_root_stores_and_checks_alike(kind: str, tmp_path: Path) -> None:
    root = {"folder": str(tmp_path / "a"), "file-url": (tmp_path / "a").as_uri(),
            "memory": f"memory://driftline-tests/{uuid.uuid4().hex}"}[kind]
    settings = Settings(home=str(tmp_path / "home"), artifact_dir=root, artifact_key=KEY)
    store = ArtifactStore.from_settings(settings)
    uri, sha = store.put("fraud", "1", {"weights": [1, 2]})
    assert uri.startswith("memory://" if kind == "memory" else "file:///")
    # What a service holds: the reader alone, with the key from the same settings.
    reader = ArtifactReader.from_settings(settings)
    assert reader.load(uri, sha, model_id="fraud") == {"weights": [1, 2]}
    data = read_bytes(uri)
    assert hashlib.sha256(data).hexdigest() == sha

    flipped = bytearray(data)
    flipped[-3] ^= 1
    _write(uri, bytes(flipped))
    with pytest.raises(ArtifactIntegrityError, match=f"artifact {uri} has sha256 "):
        reader.load(uri, sha)
    # Someone who can write both the store and the registry: the hash they record holds, the signature not.
    with pytest.raises(ArtifactSignatureError, match="does not match its contents"):
        reader.load(uri, hashlib.sha256(bytes(flipped)).hexdigest())
    store.remove(uri)
    with pytest.raises(ArtifactIntegrityError, match="cannot be read"):
        reader.load(uri, sha)

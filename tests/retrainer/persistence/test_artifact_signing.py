"""Signed artifacts: nothing unsigned, changed, signed with another key or for another model is unpickled."""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
from pathlib import Path

import pytest

from driftline.exceptions import SettingsError
from driftline.retrainer.exceptions import (
    ArtifactIntegrityError,
    ArtifactKeyError,
    ArtifactSignatureError,
)
from driftline.retrainer.persistence.artifact_reader import ArtifactReader, artifact_key
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.signing import KEY_FILE_NAME, key_id, resolve_key, seal
from driftline.settings import Settings


class Payload:
    """A pickle that, once loaded, has written a file: code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def _rewrite(store: ArtifactStore, uri: str, data: bytes) -> str:
    """Replace the artifact's bytes, as someone who can write the store would; the sha256 that matches."""
    ArtifactStore.path_of(uri).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text
    return text


def test_an_unsigned_pickle_is_refused_even_with_the_right_sha256(store: ArtifactStore, tmp_path: Path) -> None:
    uri, _ = store.put("fraud", "1", "honest model")
    marker = tmp_path / "ran"
    # An attacker who writes the store and the registry records the hash of their own file.
    sha = _rewrite(store, uri, pickle.dumps(Payload(marker)))
    with pytest.raises(ArtifactSignatureError) as exc:
        store.load(uri, sha)
    assert "refused: it is not signed" in _one_line(exc)
    assert not marker.exists()


def test_a_changed_payload_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    uri, _ = store.put("fraud", "1", "honest model")
    marker = tmp_path / "ran"
    data = ArtifactStore.path_of(uri).read_bytes()
    header, _, _ = data[len(b"DRIFTLINE-ARTIFACT/1\n"):].partition(b"\n")
    # The signed header kept, the payload swapped for the attacker's pickle.
    sha = _rewrite(store, uri, b"DRIFTLINE-ARTIFACT/1\n" + header + b"\n" + pickle.dumps(Payload(marker)))
    with pytest.raises(ArtifactSignatureError) as exc:
        store.load(uri, sha)
    assert "signature does not match its contents" in _one_line(exc)
    assert not marker.exists()


def test_a_pickle_signed_with_another_key_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    uri, _ = store.put("fraud", "1", "honest model")
    marker = tmp_path / "ran"
    theirs = b"the attacker's own key, 32 bytes"
    sha = _rewrite(store, uri, seal(pickle.dumps(Payload(marker)), model_id="fraud", fmt="pickle", key=theirs))
    with pytest.raises(ArtifactSignatureError) as exc:
        store.load(uri, sha)
    message = _one_line(exc)
    assert f"signed with another key (key id {key_id(theirs)}" in message
    assert theirs.decode() not in message
    assert not marker.exists()


def test_an_artifact_of_another_model_is_refused(store: ArtifactStore) -> None:
    uri, sha = store.put("churn", "1", "churn's model")
    assert store.load(uri, sha, model_id="churn") == "churn's model"
    with pytest.raises(ArtifactSignatureError) as exc:
        store.load(uri, sha, model_id="fraud")
    assert "signed for model 'churn', not 'fraud'" in _one_line(exc)


def test_a_reader_with_the_writers_key_loads_what_the_writer_wrote(store: ArtifactStore, tmp_path: Path) -> None:
    from tests.retrainer.conftest import TEST_KEY

    uri, sha = store.put("fraud", "1", {"w": [1, 2]})
    assert ArtifactReader(TEST_KEY).load(uri, sha, model_id="fraud") == {"w": [1, 2]}
    with pytest.raises(ArtifactSignatureError):
        ArtifactReader(b"x" * 32).load(uri, sha)


def test_the_key_comes_from_the_setting_then_the_file_then_the_home(tmp_path: Path) -> None:
    key_file = tmp_path / "secret"
    key_file.write_text("from-a-mounted-secret-file\n")
    assert resolve_key(key="s" * 20, key_file=str(key_file), home=tmp_path) == b"s" * 20
    assert resolve_key(key_file=str(key_file), home=tmp_path) == b"from-a-mounted-secret-file"
    home = tmp_path / "home"
    made = resolve_key(home=home)
    path = home / KEY_FILE_NAME
    assert len(made) == 64 and path.read_bytes().strip() == made
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert resolve_key(home=home) == made  # a second process finds the same key


def test_two_processes_on_one_home_sign_and_check_with_one_key(tmp_path: Path) -> None:
    settings = Settings(home=str(tmp_path), artifact_dir=str(tmp_path / "artifacts"))
    uri, sha = ArtifactStore.from_settings(settings).put("fraud", "1", [1])
    assert ArtifactReader.from_settings(settings).load(uri, sha) == [1]


@pytest.mark.parametrize("setup, message", [
    (lambda tmp: {"key_file": str(tmp / "missing")}, "DRIFTLINE_ARTIFACT_KEY_FILE: cannot read the artifact key file"),
    (lambda tmp: {"key_file": str((tmp / "short").write_text("abc") and tmp / "short")},
     "must be at least 16 bytes, it has 3"),
    (lambda tmp: {"key": "short"}, "DRIFTLINE_ARTIFACT_KEY must be at least 16 bytes"),
    (lambda tmp: {}, "no artifact key: set DRIFTLINE_ARTIFACT_KEY or DRIFTLINE_ARTIFACT_KEY_FILE"),
])
def test_a_key_that_cannot_be_had_is_one_line(tmp_path: Path, setup, message: str) -> None:
    with pytest.raises(ArtifactKeyError) as exc:
        resolve_key(**setup(tmp_path))
    assert message in _one_line(exc)


def test_the_key_is_never_shown(tmp_path: Path) -> None:
    secret = "a-secret-nobody-should-read-1234"
    settings = Settings.from_env({"DRIFTLINE_ARTIFACT_KEY": secret, "DRIFTLINE_HOME": str(tmp_path)})
    assert artifact_key(settings) == secret.encode()
    assert secret not in repr(settings) and secret not in str(settings)
    with pytest.raises(SettingsError) as exc:
        Settings.from_env({"DRIFTLINE_ARTIFACT_KEY": "too-short"})
    assert "too-short" not in str(exc.value) and "DRIFTLINE_ARTIFACT_KEY" in str(exc.value)
    store = ArtifactStore.from_settings(settings)
    assert secret not in repr(store) and secret not in repr(ArtifactReader.from_settings(settings))


def test_an_fsspec_url_store_signs_checks_and_sweeps_like_a_folder() -> None:
    store = ArtifactStore("memory://driftline-tests/signing", key=b"k" * 32)
    uri, sha = store.put("fraud", "1", {"w": 3})
    assert uri.startswith("memory://driftline-tests/signing/fraud/1-")
    assert store.load(uri, sha, model_id="fraud") == {"w": 3}
    assert [u for u, _ in store.files()] == [uri]
    import fsspec

    with fsspec.open(uri, "wb") as f:
        f.write(pickle.dumps("swapped"))
    with pytest.raises(ArtifactIntegrityError, match="has sha256"):
        store.load(uri, sha)
    store.remove(uri)
    assert store.files() == []

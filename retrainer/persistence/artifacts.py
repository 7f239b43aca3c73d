"""The artifact store: signed models in a folder or under any fsspec URL, checked by sha256 and signature.

Every artifact is sealed with the artifact key
(:mod:`~driftline.retrainer.persistence.signing`) and its sha256 recorded in
the registry; :meth:`ArtifactStore.load` checks both before it unpickles
anything (:mod:`~driftline.retrainer.persistence.artifact_reader`). The
root is a local folder (``DRIFTLINE_ARTIFACT_DIR``, by default
``$DRIFTLINE_HOME/artifacts``) or any URL fsspec knows (``s3://bucket/models``,
``gcs://...``, ``memory://...``), with that file system's package installed.

Examples
--------
>>> import tempfile
>>> tmp = tempfile.TemporaryDirectory()
>>> store = ArtifactStore(Path(tmp.name), key=b"k" * 32)
>>> uri, sha = store.put("fraud", "1", {"weights": [1, 2]})
>>> uri.startswith("file:///"), len(sha)
(True, 64)
>>> store.load(uri, sha)
{'weights': [1, 2]}
>>> store.load(uri, "0" * 64)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
driftline.retrainer.exceptions.ArtifactIntegrityError: artifact ... has sha256 ..., expected 0000000000000000...
>>> memory = ArtifactStore("memory://doctest/artifacts", key=b"k" * 32)
>>> uri, sha = memory.put("fraud", "2", [3, 4])
>>> uri, memory.load(uri, sha, model_id="fraud")  # doctest: +ELLIPSIS
('memory://doctest/artifacts/fraud/2-....pkl', [3, 4])
>>> memory.remove(uri); tmp.cleanup()
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from driftline.retrainer.persistence.artifact_reader import (
    ArtifactReader,
    artifact_key,
    is_local,
    local_path,
)
from driftline.retrainer.persistence.signing import seal

_SUFFIX = {"pickle": ".pkl", "mlflow": ".mlflow"}


def _segment(name: str) -> str:
    """``name`` as one safe path segment: no separators, no ``.``/``..`` escapes."""
    quoted = quote(name, safe="")
    return quoted.replace(".", "%2E") if set(quoted) <= {"."} else quoted


def _fsync_dir(path: Path) -> None:
    # The rename itself is only durable once the directory entry is on disk.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mtime(info: dict) -> float:
    """A file's modification time from an fsspec ``info`` dict, whatever the file system calls it."""
    for name in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(name)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, _dt.datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


class ArtifactStore(ArtifactReader):
    """Signed models under ``root/<model_id>/``: a folder, or an fsspec URL.

    File names carry the version and the start of the content hash, so two
    writers can never overwrite each other's artifact: a file, once named,
    only ever holds one content.
    """

    def __init__(self, root: str | Path, *, key: bytes):
        super().__init__(key)
        text = str(root)
        if isinstance(root, Path) or is_local(text):
            self.root: Path | None = (local_path(text) if text.startswith("file:") else Path(root)) \
                .expanduser().resolve()
            self.url = self.root.as_uri()
        else:
            self.root = None
            self.url = text.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Any) -> ArtifactStore:
        return cls(settings.artifact_root, key=artifact_key(settings))

    def put(self, model_id: str, version: str, model: object) -> tuple[str, str]:
        """Pickle ``model``, seal it and store it atomically; return ``(uri, sha256 hex)``."""
        return self.put_payload(model_id, version, pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL),
                                fmt="pickle")

    def put_payload(self, model_id: str, version: str, payload: bytes, *, fmt: str) -> tuple[str, str]:
        """Seal ``payload`` (a pickle, or a packed MLflow model) and store it; ``(uri, sha256 hex)``."""
        data = seal(payload, model_id=model_id, fmt=fmt, key=self._key)
        sha = hashlib.sha256(data).hexdigest()
        name = f"{_segment(version)}-{sha[:16]}{_SUFFIX[fmt]}"
        if self.root is None:
            import fsspec

            fs, base = fsspec.core.url_to_fs(self.url)
            fs.makedirs(f"{base}/{_segment(model_id)}", exist_ok=True)
            # One object written in one call: object stores never show half of it.
            fs.pipe_file(f"{base}/{_segment(model_id)}/{name}", data)
            return f"{self.url}/{_segment(model_id)}/{name}", sha
        folder = self.root / _segment(model_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=_SUFFIX[fmt])
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            # Readers see either no file or the whole file, never a torn one.
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(folder)
        return path.as_uri(), sha

    def remove(self, uri: str) -> None:
        """Delete an artifact that no registry row refers to (e.g. after a lost race)."""
        if is_local(uri):
            local_path(uri).unlink(missing_ok=True)
            return
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
        if fs.exists(path):
            fs.rm_file(path)

    def files(self) -> list[tuple[str, float]]:
        """``(uri, modification time)`` of every file in the store, written or half-written."""
        if self.root is not None:
            out = []
            for path in sorted(self.root.glob("*/*")):
                try:
                    if path.is_file():
                        out.append((path.as_uri(), path.stat().st_mtime))
                except FileNotFoundError:
                    continue
            return out
        import fsspec

        fs, base = fsspec.core.url_to_fs(self.url)
        if not fs.exists(base):
            return []
        found = fs.find(base, detail=True)
        # Named as put() names them: the store's URL, then the path below its root.
        return sorted((f"{self.url}/{p[len(base.rstrip('/')):].lstrip('/')}", _mtime(info))
                      for p, info in found.items())

    @staticmethod
    def path_of(uri: str) -> Path:
        return local_path(uri)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

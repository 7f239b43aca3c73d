"""The artifact store: pickled models on a file system, checked by sha256.

A pickle runs code when it is loaded, so :meth:`ArtifactStore.load` hashes the
bytes and compares them with the sha256 the registry recorded *before*
unpickling: a file that was swapped or corrupted is refused, never executed.

Examples
--------
>>> import tempfile
>>> tmp = tempfile.TemporaryDirectory()
>>> store = ArtifactStore(Path(tmp.name))
>>> uri, sha = store.put("fraud", "1", {"weights": [1, 2]})
>>> uri.startswith("file:///"), len(sha)
(True, 64)
>>> store.load(uri, sha)
{'weights': [1, 2]}
>>> store.load(uri, "0" * 64)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
driftline.retrainer.exceptions.ArtifactIntegrityError: artifact ... has sha256 ..., expected 0000000000000000...
>>> tmp.cleanup()
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import tempfile
from pathlib import Path
from urllib.parse import quote, urlparse
from urllib.request import url2pathname

from driftline.retrainer.exceptions import ArtifactIntegrityError


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


class ArtifactStore:
    """Models as pickle files under ``root/<model_id>/``.

    File names carry the version and the start of the content hash, so two
    writers can never overwrite each other's artifact: a file, once named,
    only ever holds one content.
    """

    def __init__(self, root: Path):
        self.root = Path(root).expanduser().resolve()

    def put(self, model_id: str, version: str, model: object) -> tuple[str, str]:
        """Pickle ``model`` atomically and return ``(uri, sha256 hex)``."""
        data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        sha = hashlib.sha256(data).hexdigest()
        folder = self.root / _segment(model_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_segment(version)}-{sha[:16]}.pkl"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pkl")
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

    def load(self, uri: str, sha256: str) -> object:
        """Unpickle the artifact at ``uri`` if its bytes hash to ``sha256``.

        Raises :class:`ArtifactIntegrityError` if the file is missing,
        unreadable, or its hash differs.
        """
        path = self.path_of(uri)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ArtifactIntegrityError(f"artifact {uri} cannot be read: {exc.strerror or exc}") from None
        actual = hashlib.sha256(data).hexdigest()
        if not sha256 or not hmac.compare_digest(actual, sha256.lower()):
            raise ArtifactIntegrityError(f"artifact {uri} has sha256 {actual}, expected {sha256}")
        return pickle.loads(data)

    def remove(self, uri: str) -> None:
        """Delete an artifact that no registry row refers to (e.g. after a lost race)."""
        self.path_of(uri).unlink(missing_ok=True)

    @staticmethod
    def path_of(uri: str) -> Path:
        parsed = urlparse(uri)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise ArtifactIntegrityError(f"artifact {uri} is not a local file:// URI")
        return Path(url2pathname(parsed.path))

    def __repr__(self) -> str:
        return f"ArtifactStore({str(self.root)!r})"

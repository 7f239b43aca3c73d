"""Reading a model artifact: from a local path or any fsspec URL, checked by sha256, then by signature.

This is what a service needs to load a champion, next to
:class:`~driftline.retrainer.persistence.registry_reader.RegistryReader`; it
imports nothing of the retrainer's writing side. The checks come before
anything parses the payload: the bytes must hash to the sha256 the registry
recorded (corruption, a swapped file), and their signature must hold under
the artifact key (:mod:`~driftline.retrainer.persistence.signing`), which
the registry does not hold (an attacker who writes both the store and the
registry). Only then is a pickle unpickled, or an MLflow model unpacked.

Examples
--------
>>> import hashlib, pickle, tempfile
>>> from pathlib import Path
>>> from driftline.retrainer.persistence.signing import seal
>>> key = b"k" * 32
>>> tmp = tempfile.TemporaryDirectory()
>>> path = Path(tmp.name) / "m.pkl"
>>> _ = path.write_bytes(seal(pickle.dumps({"w": 1}), model_id="fraud", fmt="pickle", key=key))
>>> sha = hashlib.sha256(path.read_bytes()).hexdigest()
>>> ArtifactReader(key).load(path.as_uri(), sha, model_id="fraud")
{'w': 1}
>>> ArtifactReader(b"another key, 32 bytes long......").load(path.as_uri(), sha)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
driftline.retrainer.exceptions.ArtifactSignatureError: artifact file:///... refused: it was signed with another key (key id ..., this process holds ...); give every process the same DRIFTLINE_ARTIFACT_KEY
>>> tmp.cleanup()
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from driftline.retrainer.exceptions import ArtifactIntegrityError
from driftline.retrainer.persistence.signing import resolve_key, unseal


def is_local(uri: str) -> bool:
    """Whether ``uri`` names a local file (``file://``) rather than another fsspec file system."""
    return urlparse(uri).scheme in ("", "file")


def local_path(uri: str) -> Path:
    """The path a ``file://`` URI names (percent-escapes decoded, as ``Path.as_uri`` wrote them)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        raise ArtifactIntegrityError(f"artifact {uri} is not a local file:// URI")
    return Path(url2pathname(parsed.path))


def read_bytes(uri: str) -> bytes:
    """The bytes at ``uri``: a ``file://`` URI or any URL fsspec knows (``s3://``, ``memory://``...)."""
    try:
        if is_local(uri):
            return local_path(uri).read_bytes()
        import fsspec

        with fsspec.open(uri, "rb") as f:
            return f.read()
    except ArtifactIntegrityError:
        raise
    except (OSError, ValueError, ImportError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ArtifactIntegrityError(f"artifact {uri} cannot be read: {why}") from None


def decode(fmt: str, payload: bytes) -> Any:
    """The model in a verified payload."""
    if fmt == "mlflow":
        from driftline.retrainer.learners.pyfunc import load_packed

        return load_packed(payload)
    return pickle.loads(payload)


class ArtifactReader:
    """Loads artifacts whose sha256 and signature hold; see the module notes.

    Parameters
    ----------
    key
        The artifact key the writer signed with.
    """

    def __init__(self, key: bytes):
        self._key = key

    @classmethod
    def from_settings(cls, settings: Any) -> ArtifactReader:
        return cls(artifact_key(settings))

    def load(self, uri: str, sha256: str, *, model_id: str | None = None) -> Any:
        """The model at ``uri``, if its bytes hash to ``sha256`` and its signature holds.

        Raises :class:`~driftline.retrainer.exceptions.ArtifactIntegrityError`
        (missing, unreadable, another hash) or its subclass
        :class:`~driftline.retrainer.exceptions.ArtifactSignatureError`
        (unsigned, tampered, another key, another model), each with one line.
        """
        data = read_bytes(uri)
        actual = hashlib.sha256(data).hexdigest()
        if not sha256 or not hmac.compare_digest(actual, sha256.lower()):
            raise ArtifactIntegrityError(f"artifact {uri} has sha256 {actual}, expected {sha256}")
        fmt, payload = unseal(data, key=self._key, uri=uri, model_id=model_id)
        return decode(fmt, payload)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def artifact_key(settings: Any) -> bytes:
    """The artifact key the settings name (see :func:`~driftline.retrainer.persistence.signing.resolve_key`)."""
    return resolve_key(key=settings.artifact_key, key_file=settings.artifact_key_file,
                       home=settings.home_path)

"""Signed artifacts: an HMAC-SHA256 over the artifact, with a key the registry never holds.

The registry records each artifact's sha256, which catches a file that was
corrupted or swapped, but not an attacker who writes the registry too: they
would record the hash of their own file. A pickle runs code when it is
loaded, so every artifact driftline writes is *sealed*: a header line, then
the payload, with an HMAC-SHA256 over both under the artifact key
(``DRIFTLINE_ARTIFACT_KEY``, ``DRIFTLINE_ARTIFACT_KEY_FILE``, or a key file
made in ``DRIFTLINE_HOME``). :func:`unseal` checks the HMAC before anything
reads the payload; an artifact that is not sealed, was changed, was sealed
with another key or for another model is refused with one line.

Why a key rather than a format that cannot run code (skops for
scikit-learn): driftline's artifacts are its own learners, river
estimators, any estimator a trainer returns and MLflow models, and skops
loads only types on a trusted list, which would have to name each of them
and which an attacker would then aim at. One check before the payload is
read covers every format alike.

Examples
--------
>>> key = b"k" * 32
>>> sealed = seal(b"payload", model_id="fraud", fmt="pickle", key=key)
>>> sealed.startswith(MAGIC)
True
>>> unseal(sealed, key=key, uri="mem://a", model_id="fraud")
('pickle', b'payload')
>>> unseal(sealed.replace(b"payload", b"paylaod"), key=key, uri="mem://a")
Traceback (most recent call last):
...
driftline.retrainer.exceptions.ArtifactSignatureError: artifact mem://a refused: its signature does not match its contents (changed after it was written)
>>> unseal(b"\\x80\\x04K\\x01.", key=key, uri="mem://b")
Traceback (most recent call last):
...
driftline.retrainer.exceptions.ArtifactSignatureError: artifact mem://b refused: it is not signed (driftline loads only artifacts signed with the artifact key, DRIFTLINE_ARTIFACT_KEY)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from driftline.retrainer.exceptions import ArtifactKeyError, ArtifactSignatureError

MAGIC = b"DRIFTLINE-ARTIFACT/1\n"
FORMATS = ("pickle", "mlflow")
KEY_FILE_NAME = "artifact.key"
_MIN_KEY_BYTES = 16
# The header is small; anything longer is not one of ours.
_MAX_HEADER = 4096


def key_id(key: bytes) -> str:
    """A short name for ``key`` that gives nothing of it away: which key signed an artifact."""
    return hashlib.sha256(b"driftline-artifact-key-id\0" + key).hexdigest()[:12]


def _mac(key: bytes, header: dict, payload: bytes) -> str:
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hmac.new(key, MAGIC + head + b"\n" + payload, hashlib.sha256).hexdigest()


def seal(payload: bytes, *, model_id: str, fmt: str, key: bytes) -> bytes:
    """``payload`` with a signed header naming its format and model."""
    if fmt not in FORMATS:
        raise ValueError(f"artifact format must be one of {FORMATS}, got {fmt!r}")
    header = {"format": fmt, "model_id": model_id, "key_id": key_id(key)}
    signed = {**header, "hmac_sha256": _mac(key, header, payload)}
    return MAGIC + json.dumps(signed, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n" + payload


def unseal(data: bytes, *, key: bytes, uri: str, model_id: str | None = None) -> tuple[str, bytes]:
    """``(format, payload)`` of a sealed artifact whose signature holds under ``key``.

    Raises :class:`ArtifactSignatureError` otherwise, and if ``model_id`` is
    given and the artifact was sealed for another model.
    """
    if not data.startswith(MAGIC):
        raise ArtifactSignatureError(f"artifact {uri} refused: it is not signed (driftline loads only "
                                     f"artifacts signed with the artifact key, DRIFTLINE_ARTIFACT_KEY)")
    end = data.find(b"\n", len(MAGIC), len(MAGIC) + _MAX_HEADER)
    try:
        if end < 0:
            raise ValueError
        signed = json.loads(data[len(MAGIC):end])
        mac = signed.pop("hmac_sha256")
        if not isinstance(mac, str) or signed.get("format") not in FORMATS:
            raise ValueError
    except (ValueError, KeyError, AttributeError, TypeError):
        raise ArtifactSignatureError(f"artifact {uri} refused: its signed header is unreadable") from None
    payload = data[end + 1:]
    if not hmac.compare_digest(mac, _mac(key, signed, payload)):
        theirs, ours = signed.get("key_id"), key_id(key)
        if theirs != ours:
            raise ArtifactSignatureError(
                f"artifact {uri} refused: it was signed with another key (key id {theirs}, this process "
                f"holds {ours}); give every process the same DRIFTLINE_ARTIFACT_KEY")
        raise ArtifactSignatureError(f"artifact {uri} refused: its signature does not match its contents "
                                     f"(changed after it was written)")
    if model_id is not None and signed.get("model_id") != model_id:
        raise ArtifactSignatureError(f"artifact {uri} refused: it was signed for model "
                                     f"{signed.get('model_id')!r}, not {model_id!r}")
    return signed["format"], payload


def _read_key_file(path: Path, variable: str) -> bytes:
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ArtifactKeyError(f"{variable}: cannot read the artifact key file {path}: "
                               f"{exc.strerror or exc}") from None
    if len(key) < _MIN_KEY_BYTES:
        raise ArtifactKeyError(f"{variable}: the artifact key in {path} must be at least "
                               f"{_MIN_KEY_BYTES} bytes, it has {len(key)}")
    return key


def _make_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once agree on whichever key was written first.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")


def resolve_key(*, key: str = "", key_file: str = "", home: Path | None = None) -> bytes:
    """The artifact key: ``key`` if set, else the contents of ``key_file``, else ``home/artifact.key``.

    The last is made (random, readable by its owner only) if it does not
    exist, so a local setup whose processes share one home signs and checks
    with one key without being told; processes on different machines need
    ``DRIFTLINE_ARTIFACT_KEY`` or ``DRIFTLINE_ARTIFACT_KEY_FILE``.
    """
    if key:
        raw = key.encode("utf-8")
        if len(raw) < _MIN_KEY_BYTES:
            raise ArtifactKeyError(f"DRIFTLINE_ARTIFACT_KEY must be at least {_MIN_KEY_BYTES} bytes")
        return raw
    if key_file:
        return _read_key_file(Path(key_file).expanduser(), "DRIFTLINE_ARTIFACT_KEY_FILE")
    if home is None:
        raise ArtifactKeyError("no artifact key: set DRIFTLINE_ARTIFACT_KEY or DRIFTLINE_ARTIFACT_KEY_FILE")
    path = Path(home).expanduser() / KEY_FILE_NAME
    if not path.exists():
        _make_key_file(path)
    return _read_key_file(path, "the artifact key file")

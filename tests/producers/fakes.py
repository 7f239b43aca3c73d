"""Small stand-ins for the registry and the artifact store, with the interface ModelClient uses."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from pathlib import Path
from typing import Any


class Constant:
    """A model that always answers ``value``."""

    def __init__(self, value: Any):
        self.value = value

    def predict_one(self, x: dict) -> Any:
        return self.value


@dataclasses.dataclass
class VersionRecord:
    model_id: str
    version: str
    artifact_uri: str
    sha256: str
    status: str = "champion"


class HashMismatch(Exception):
    pass


class FileStore:
    """Pickled models in a directory, checked against their sha256 on load."""

    def __init__(self, root: Path):
        self.root = root
        self.loads: list[str] = []

    def save(self, model: Any, name: str) -> tuple[str, str]:
        data = pickle.dumps(model)
        path = self.root / f"{name}.pkl"
        path.write_bytes(data)
        return path.as_uri(), hashlib.sha256(data).hexdigest()

    def load(self, uri: str, sha256: str, *, model_id: str | None = None) -> Any:
        data = Path(uri.removeprefix("file://")).read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise HashMismatch(f"sha256 of {uri} is {actual[:12]}, expected {sha256[:12]}")
        self.loads.append(uri)
        return pickle.loads(data)


class FixedRegistry:
    """A registry with one champion, ``record``, which a test changes as the retrainer would."""

    def __init__(self, record: VersionRecord | None = None):
        self.record = record
        self.asked = 0

    def champion(self, model_id: str) -> VersionRecord | None:
        self.asked += 1
        if self.record is not None and self.record.model_id == model_id:
            return self.record
        return None

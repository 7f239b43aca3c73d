"""The records of the monitor's state topic: what each key holds, and the format's versions.

The state topic is compacted and has as many partitions as ``predictions``;
a model's records live in the partition its events come from, so a worker
that takes a partition over reads exactly the state of the models it now
watches. Keys are MessagePack arrays:

==================================  ============================================
``["m", model_id]``                 the model record: ``{"format", "gen",
                                    "offsets", "blobs", "monitor"}`` (below)
``["b", model_id, name, part]``     part of a blob: a large array (or a record
                                    too large for one message), by content hash
``["p", model_id, kind, event_id]`` a prediction (``"p"``) or early feedback
                                    (``"f"``) waiting for its other half
==================================  ============================================

The model record holds ``monitor``, :meth:`ModelMonitor.state_dict` with its
large arrays replaced by references to blobs, ``offsets``, the next input
offset per ``"topic:partition"`` that the state includes (inputs below them
were applied and are skipped when read again), ``blobs``, the blob names it
needs, and ``format``, the version of this layout. A record of an older
format is migrated (:data:`MIGRATIONS`); one that cannot be read is reported
and the model starts afresh.

>>> import numpy as np
>>> monitor = {"ref": np.arange(2048.0), "n": 3}
>>> parts = encode_model("fraud", monitor, offsets={"p:0": 10}, gen=1)
>>> [decode_key(k)[0] for k in parts.values] == ["b", "m"]
True
>>> record = decode_model("fraud", parts.values[key_model("fraud")], parts.values.__getitem__)
>>> record["offsets"], float(record["monitor"]["ref"][-1]), record["format"]
({'p:0': 10}, 2047.0, 2)
"""

from __future__ import annotations

import dataclasses
import hashlib
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from driftline.consumers.state import codec
from driftline.exceptions import StateDecodeError

FORMAT = 2
# Arrays from this size on are blobs; smaller ones cost less inline than a name.
BLOB_MIN_BYTES = 8192
# Largest value of one record: well under the broker's default limit of 1 MB, so a
# record and its key fit in any cluster's defaults.
PART_BYTES = 256 * 1024
_BLOB = "\x00blob"
_PARTS = "\x00parts"


# ---------------------------------------------------------------- keys


def key_model(model_id: str) -> bytes:
    return codec.dumps(["m", model_id])


def key_blob(model_id: str, name: str, part: int) -> bytes:
    return codec.dumps(["b", model_id, name, part])


def key_pending(model_id: str, kind: str, event_id: str) -> bytes:
    return codec.dumps(["p", model_id, kind, event_id])


def decode_key(key: bytes) -> list:
    """``[kind, model_id, ...]``; StateDecodeError for a key that is not one of ours."""
    value = codec.loads(key)
    if (not isinstance(value, list) or len(value) < 2 or value[0] not in ("m", "b", "p")
            or not isinstance(value[1], str)):
        raise StateDecodeError(f"not a state key: {value!r}"[:200])
    return value


# ---------------------------------------------------------------- blobs


class _Hashes:
    """Content hashes of read-only arrays, kept by identity: a reference is hashed once."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[weakref.ref, str]] = {}

    def name(self, a: np.ndarray) -> str:
        frozen = not a.flags.writeable
        if frozen:
            hit = self._by_id.get(id(a))
            if hit is not None and hit[0]() is a:
                return hit[1]
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).data)
        name = h.hexdigest()
        if frozen:
            if len(self._by_id) > 100_000:
                self._by_id = {k: v for k, v in self._by_id.items() if v[0]() is not None}
            self._by_id[id(a)] = (weakref.ref(a), name)
        return name


_HASHES = _Hashes()


def _extract(obj: Any, blobs: dict[str, np.ndarray]) -> Any:
    """``obj`` with its large arrays replaced by ``{_BLOB: name}``; the arrays go to ``blobs``."""
    t = type(obj)
    if t is np.ndarray:
        if obj.dtype != object and obj.nbytes >= BLOB_MIN_BYTES:
            name = _HASHES.name(obj)
            blobs[name] = obj
            return {_BLOB: name}
        return obj
    if t is dict:
        return {k: _extract(v, blobs) for k, v in obj.items()}
    if t is list:
        return [_extract(v, blobs) for v in obj]
    if t is tuple:
        return tuple(_extract(v, blobs) for v in obj)
    return obj


def _insert(obj: Any, get: Callable[[str], Any]) -> Any:
    t = type(obj)
    if t is dict:
        if len(obj) == 1 and _BLOB in obj:
            return get(obj[_BLOB])
        return {k: _insert(v, get) for k, v in obj.items()}
    if t is list:
        return [_insert(v, get) for v in obj]
    if t is tuple:
        return tuple(_insert(v, get) for v in obj)
    return obj


def split(value: bytes) -> list[bytes]:
    """A value in parts of at most :data:`PART_BYTES`."""
    return [value[i:i + PART_BYTES] for i in range(0, len(value), PART_BYTES)] or [b""]


# ---------------------------------------------------------------- model records


@dataclasses.dataclass
class Encoded:
    """What one model's state is written as: record values by key, and the blobs it needs."""

    values: dict[bytes, bytes]  # key -> value, the model record last
    blobs: dict[str, int]  # blob name -> parts


def encode_model(model_id: str, monitor: dict[str, Any], offsets: dict[str, int], gen: int,
                 known: dict[str, int] | None = None, extra: dict[str, Any] | None = None) -> Encoded:
    """The records for one model's state; blobs already written (``known``: name -> parts) are
    left out. ``extra`` adds fields to the model record."""
    arrays: dict[str, np.ndarray] = {}
    body = _extract(monitor, arrays)
    extra = _extract(dict(extra or {}), arrays)
    known = known or {}
    values: dict[bytes, bytes] = {}
    blobs: dict[str, int] = {}
    for name, array in arrays.items():
        if name in known:
            blobs[name] = known[name]
            continue
        parts = split(codec.dumps(array))
        for i, part in enumerate(parts):
            values[key_blob(model_id, name, i)] = part
        blobs[name] = len(parts)
    record = codec.dumps({**extra, "format": FORMAT, "gen": gen, "offsets": offsets,
                          "blobs": blobs, "monitor": body})
    if len(record) > PART_BYTES:
        # A record too large for one message is itself a blob; the model key points at it.
        name = hashlib.blake2b(record, digest_size=16).hexdigest()
        parts = split(record)
        for i, part in enumerate(parts):
            values[key_blob(model_id, name, i)] = part
        blobs = {**blobs, name: len(parts)}
        record = codec.dumps({"format": FORMAT, "gen": gen, "offsets": offsets, "blobs": blobs,
                              _PARTS: [name, len(parts)]})
    values[key_model(model_id)] = record  # last: readers take it only with its blobs before it
    return Encoded(values, blobs)


def decode_model(model_id: str, record: bytes, get: Callable[[bytes], bytes]) -> dict[str, Any]:
    """The model record ``record`` of ``model_id``, its blobs read with ``get(key)``, migrated
    to :data:`FORMAT`.

    Raises StateDecodeError (or KeyError for a missing blob) if it cannot be read.
    """
    head = codec.loads(record)
    if not isinstance(head, dict) or not isinstance(head.get("format"), int):
        raise StateDecodeError("a model record without a format")
    if head["format"] > FORMAT:
        raise StateDecodeError(f"state of format {head['format']}, newer than this monitor's {FORMAT}")
    names = head.get("blobs") or {}

    def blob(name: str) -> bytes:
        return b"".join(get(key_blob(model_id, name, i)) for i in range(names[name]))

    if _PARTS in head:
        inner = codec.loads(blob(head[_PARTS][0]))
        head = {**inner, "blobs": names}
    while head["format"] < FORMAT:
        head = MIGRATIONS[head["format"]](head)
    fixed = ("format", "gen", "offsets", "blobs")
    return {k: v if k in fixed else _insert(v, lambda name: codec.loads(blob(name)))
            for k, v in head.items()}


def _v1_to_v2(head: dict) -> dict:
    """Format 2 names each open alert episode (its ``episode_id``); format 1 alerts had none,
    so the episodes open then get their id when they resolve."""
    return {**head, "format": 2, "monitor": {**head["monitor"], "episodes": []}}


# format n -> the function that turns a record of format n into one of format n + 1
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}

"""A monitor's state as changelog records: large arrays that have not changed are not written again.

Every batch writes the model's whole monitor to the changelog. Most of its
bytes are reference data (sorted reference samples, random-feature matrices,
a sequential detector's reference values) that stay the same for the life of
a model version, while windows and counters change every batch. Pickling
with a persistent id keyed on content sends each large array out as a
separate blob named by its hash: the state record holds only the hashes, and
a blob whose hash was written before is not written again. State records
stay small however many features a model has (the broker refuses records
over a megabyte), and the changelog carries what changed.

>>> import numpy as np
>>> big, small = np.arange(4096.0), np.zeros(3)
>>> record, blobs = dump({"ref": big, "window": small})
>>> keys = referenced(record)
>>> list(blobs) == keys and len(keys) == 1
True
>>> back = load(record, blobs.__getitem__)
>>> bool((back["ref"] == big).all()), back["window"].tolist()
(True, [0.0, 0.0, 0.0])
>>> dump({"ref": big, "window": np.ones(3)})[1].keys() == blobs.keys()  # same content, same name
True
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

# Arrays from this size on are blobs; smaller ones cost less inline than a hash.
BLOB_MIN_BYTES = 8192
_PROTOCOL = pickle.HIGHEST_PROTOCOL


def dump(obj: Any) -> tuple[bytes, dict[str, bytes]]:
    """``(record, blobs)``: the pickled state, and the large arrays it names, by content hash."""
    blobs: dict[str, bytes] = {}

    class _Pickler(pickle.Pickler):
        def persistent_id(self, o: Any) -> str | None:
            if type(o) is np.ndarray and o.dtype != object and o.nbytes >= BLOB_MIN_BYTES:
                data = pickle.dumps(o, protocol=_PROTOCOL)
                key = hashlib.blake2b(data, digest_size=16).hexdigest()
                blobs[key] = data
                return key
            return None

    buf = io.BytesIO()
    _Pickler(buf, protocol=_PROTOCOL).dump(obj)
    # The blob names lead the record, so recovery knows what the state holds on to.
    return pickle.dumps((sorted(blobs), buf.getvalue()), protocol=_PROTOCOL), blobs


def referenced(record: bytes) -> list[str]:
    """The blob names a state record needs."""
    return list(pickle.loads(record)[0])


def load(record: bytes, blob: Callable[[str], bytes]) -> Any:
    """The state of ``record``, its blobs fetched by name with ``blob``."""
    _, data = pickle.loads(record)

    class _Unpickler(pickle.Unpickler):
        def persistent_load(self, pid: str) -> Any:
            return pickle.loads(blob(pid))

    return _Unpickler(io.BytesIO(data)).load()

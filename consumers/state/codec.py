"""Plain data to bytes and back: msgpack, with numpy arrays as dtype, shape and raw bytes.

What the monitor writes to its state topic is data only: dicts, lists,
strings, numbers, bools, None, bytes and numpy arrays, plus tuples, sets,
frozensets and deques, which are kept apart from lists so that what is read
back has the types that were written. Nothing is imported or called while
decoding, so whoever can write the state topic can corrupt a model's state
but cannot run code in the monitor.

>>> import numpy as np
>>> from collections import deque
>>> state = {"ring": np.arange(3, dtype=np.uint64), "open": {("drift", None): [1, 2.5]},
...          "seen": {"a"}, "last": deque([1, 2], maxlen=4)}
>>> back = loads(dumps(state))
>>> back["ring"].dtype, back["ring"].tolist(), back["open"], back["seen"], back["last"]
(dtype('uint64'), [0, 1, 2], {('drift', None): [1, 2.5]}, {'a'}, deque([1, 2], maxlen=4))
>>> loads(b"\\xc1")
Traceback (most recent call last):
...
driftline.exceptions.StateDecodeError: not a state record: MessagePack data is malformed: invalid opcode '\\xc1' (byte 0)
"""

from __future__ import annotations

from collections import deque
from typing import Any

import msgspec
import numpy as np

from driftline.exceptions import StateDecodeError

_ARRAY, _OBJECTS, _TUPLE, _SET, _FROZENSET, _DEQUE, _SCALAR, _PAIRS = range(1, 9)


def _to_plain(obj: Any) -> Any:
    t = type(obj)
    if t in (str, int, float, bool, bytes) or obj is None:
        return obj
    if t is dict:
        if all(type(k) is str or type(k) is int for k in obj):
            return {k: _to_plain(v) for k, v in obj.items()}
        # Keys msgpack maps cannot hold as themselves (tuples, None): a list of pairs.
        return msgspec.msgpack.Ext(_PAIRS, _packb([[_to_plain(k), _to_plain(v)] for k, v in obj.items()]))
    if t is list:
        return [_to_plain(v) for v in obj]
    if t is np.ndarray:
        if obj.dtype == object:
            return msgspec.msgpack.Ext(_OBJECTS, _packb([list(obj.shape), [_to_plain(v) for v in obj.ravel().tolist()]]))
        if not obj.dtype.isnative or obj.dtype.hasobject or obj.dtype.fields is not None:
            raise TypeError(f"arrays of dtype {obj.dtype} are not plain state")
        data = np.ascontiguousarray(obj)
        return msgspec.msgpack.Ext(_ARRAY, _packb([data.dtype.str, list(data.shape), data.tobytes()]))
    if t is tuple:
        return msgspec.msgpack.Ext(_TUPLE, _packb([_to_plain(v) for v in obj]))
    if t is set or t is frozenset:
        items = sorted((_to_plain(v) for v in obj), key=repr)
        return msgspec.msgpack.Ext(_SET if t is set else _FROZENSET, _packb(items))
    if t is deque:
        return msgspec.msgpack.Ext(_DEQUE, _packb([obj.maxlen, [_to_plain(v) for v in obj]]))
    if isinstance(obj, np.generic):
        return msgspec.msgpack.Ext(_SCALAR, _packb([obj.dtype.str, obj.tobytes()]))
    if isinstance(obj, (str, int, float, bytes)):  # subclasses (e.g. IntEnum): their plain value
        return (str if isinstance(obj, str) else int if isinstance(obj, int) else
                float if isinstance(obj, float) else bytes)(obj)
    raise TypeError(f"{t.__name__} is not plain state")


_ENC = msgspec.msgpack.Encoder()


def _packb(obj: Any) -> bytes:
    return _ENC.encode(obj)


def _ext(code: int, data: memoryview) -> Any:
    if code == _ARRAY:
        dtype, shape, raw = _unpackb(data)
        dt = np.dtype(dtype)
        if dt.hasobject:
            raise StateDecodeError(f"arrays of dtype {dtype} are not plain state")
        return np.frombuffer(raw, dtype=dt).reshape(shape).copy()
    if code == _OBJECTS:
        shape, items = _unpackb(data)
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out.reshape(shape)
    if code == _TUPLE:
        return tuple(_unpackb(data))
    if code == _SET:
        return set(_unpackb(data))
    if code == _FROZENSET:
        return frozenset(_unpackb(data))
    if code == _DEQUE:
        maxlen, items = _unpackb(data)
        return deque(items, maxlen=maxlen)
    if code == _PAIRS:
        return {k: v for k, v in _unpackb(data)}
    if code == _SCALAR:
        dtype, raw = _unpackb(data)
        return np.frombuffer(raw, dtype=np.dtype(dtype))[0]
    raise StateDecodeError(f"unknown extension type {code} in a state record")


_DEC = msgspec.msgpack.Decoder(ext_hook=_ext)


def _unpackb(data: Any) -> Any:
    return _DEC.decode(data)


def dumps(obj: Any) -> bytes:
    """The bytes of plain state ``obj`` (raises TypeError for anything that is not plain)."""
    return _packb(_to_plain(obj))


def loads(data: bytes) -> Any:
    """The plain state in ``data``; StateDecodeError if it is not a state record."""
    try:
        return _unpackb(data)
    except StateDecodeError:
        raise
    except (msgspec.DecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise StateDecodeError(f"not a state record: {exc}") from None

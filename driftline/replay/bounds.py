"""Where a replay starts and ends: an offset in the model's partitions, or a time.

``--from`` and ``--to`` take one of

* ``N``: an offset of the predictions topic, in each partition that holds the model;
* ``@MS``: a time in milliseconds since the epoch;
* an ISO-8601 time, e.g. ``2026-12-07T16:00:00Z`` (without a zone: UTC).

A time selects the records of both input topics whose Kafka timestamp is at
or after it (``--from``) or before it (``--to``). An offset of the
predictions topic becomes the time of the record there, so the feedback is
read over the same span.

>>> parse_bound("1500")
Bound(offset=1500, time_ms=None)
>>> parse_bound("@1765123456789")
Bound(offset=None, time_ms=1765123456789)
>>> parse_bound("2026-12-07T16:00:00Z").time_ms
1796659200000
>>> parse_bound("2026-12-07T17:00:00+01:00").time_ms == parse_bound("2026-12-07 16:00").time_ms
True
>>> parse_bound("soon")
Traceback (most recent call last):
...
ValueError: expected an offset (N), epoch milliseconds (@MS) or an ISO-8601 time, got 'soon'
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone


@dataclasses.dataclass(frozen=True)
class Bound:
    """One end of a replay: exactly one of ``offset`` and ``time_ms`` is set."""

    offset: int | None = None
    time_ms: int | None = None

    def describe(self) -> str:
        if self.offset is not None:
            return f"offset {self.offset}"
        return f"{_iso(self.time_ms)} ({self.time_ms} ms)"


def parse_bound(text: str) -> Bound:
    """``--from`` or ``--to`` as a :class:`Bound` (see the module docstring)."""
    raw = text.strip()
    wanted = f"expected an offset (N), epoch milliseconds (@MS) or an ISO-8601 time, got {text!r}"
    if raw.isdigit():
        return Bound(offset=int(raw))
    if raw.startswith("@"):
        if not raw[1:].isdigit():
            raise ValueError(wanted)
        return Bound(time_ms=int(raw[1:]))
    try:
        when = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise ValueError(wanted) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return Bound(time_ms=int(when.timestamp() * 1000))


def _iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")

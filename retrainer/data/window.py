"""Read a model's labeled examples back from Kafka, from a point in time onwards.

The labeled topic is the training data: the monitor writes every joined
prediction and label to it. A retrain reads it from ``since_ts`` (the drift
point) on every partition, keeps the model's own examples, and stops at
``max_train_examples`` or at the end of the topic. If that is fewer than
``min_train_examples``, it keeps polling for fresh labels for up to
``retrain_wait_s`` before giving up and letting the gate reject the window.
A worker asked to stop during that wait gets :class:`WindowInterrupted`
rather than a short window, so the request is retried, not rejected.

The reader is an ``assign()``-ed consumer without a group: it commits
nothing, and reading the same window twice reads the same data. It reads
with ``isolation_level=read_committed``: a monitor that writes ``labeled`` in
Kafka transactions has only its committed examples read, never those of a
transaction it aborted (or died in). Kafka delivers at least once, so an
example that comes twice (a monitor restarted before committing its input)
is kept once, by event id; every reader of ``labeled`` (the retrain's
window, a shadow run, a rollback's comparison) reads through here.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from driftline.contract import Labeled, Topics, decode_labeled
from driftline.exceptions import InvalidEvent
from driftline.kafka.clients import connect
from driftline.retrainer.exceptions import WindowInterrupted
from driftline.settings import Settings

_POLL_MS = 200
# How long to sleep between looks at the end offsets while waiting for labels.
_WAIT_STEP_S = 0.5
_TIMEOUT_MS = 30_000


def _consumer(settings: Settings) -> KafkaConsumer:
    return connect(
        KafkaConsumer, settings, timeout=_TIMEOUT_MS / 1000, wait_s=_TIMEOUT_MS / 1000, group_id=None,
        enable_auto_commit=False, client_id="driftline-retrainer-window",
        isolation_level="read_committed",
        fetch_max_bytes=max(52_428_800, settings.max_message_bytes),
        max_partition_fetch_bytes=max(1_048_576, settings.max_message_bytes),
    )


def read_window(
    settings: Settings, model_id: str, since_ts: int, *,
    stop: threading.Event | None = None, clock: Callable[[], float] = time.monotonic,
    seek_ts: int | None = None,
) -> tuple[list[Labeled], dict[str, Any]]:
    """The labeled examples of ``model_id`` with ``ts >= since_ts``, and the window's record.

    The monitor stamps what it writes with its processing time, so the topic is
    sought at ``seek_ts`` (a request's ``labeled_from_ts``: when the monitor had
    not yet seen the window's first event) if given, else at ``since_ts``.

    The record is ``{"topic", "since_ts", "until_ts", "n_examples", "n_invalid",
    "offsets": {"<partition>": {"start": .., "end": ..}}, "model_versions": {..}}``;
    ``end`` is the offset after the last message read, ``until_ts`` the newest
    example's event time, ``model_versions`` how many examples each version the
    service reported served (the registry records those it did not make).
    """
    topic = Topics(settings.topic_prefix).labeled
    key = model_id.encode("utf-8")
    consumer = _consumer(settings)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps, timeout_ms=_TIMEOUT_MS) if tps else {}
        # Kafka's record timestamps are the search key; a record stamped
        # before since_ts may still carry a later event time, so ts is also
        # checked per example below.
        at = since_ts if seek_ts is None else seek_ts
        found = consumer.offsets_for_times({tp: at for tp in tps}, timeout_ms=_TIMEOUT_MS) if tps else {}
        starts = {tp: ends[tp] if found.get(tp) is None else found[tp].offset for tp in tps}
        for tp in tps:
            consumer.seek(tp, starts[tp])
        read_to = dict(starts)

        events: list[Labeled] = []
        seen: set[str] = set()
        n_invalid = 0
        deadline = clock() + settings.retrain_wait_s
        while len(events) < settings.max_train_examples:
            if all(consumer.position(tp) >= ends[tp] for tp in tps):
                if len(events) >= settings.min_train_examples or clock() >= deadline:
                    break
                if stop is not None and stop.is_set():
                    raise WindowInterrupted(f"stopped while waiting for labeled examples of {model_id!r}: "
                                            f"{len(events)} of {settings.min_train_examples}")
                if stop is not None:
                    stop.wait(_WAIT_STEP_S)
                else:
                    time.sleep(_WAIT_STEP_S)
                ends = consumer.end_offsets(tps, timeout_ms=_TIMEOUT_MS) if tps else {}
                continue
            for tp, messages in consumer.poll(timeout_ms=_POLL_MS).items():
                for msg in messages:
                    if len(events) >= settings.max_train_examples:
                        break
                    read_to[tp] = msg.offset + 1
                    # Keys are model ids: skip other models without parsing them.
                    if msg.key is not None and msg.key != key:
                        continue
                    try:
                        ev = decode_labeled(msg.value, settings.max_message_bytes)
                    except (InvalidEvent, TypeError):
                        # The monitor dead-letters bad input; here it is only counted.
                        n_invalid += 1
                        continue
                    if ev.model_id != model_id or ev.ts < since_ts or ev.event_id in seen:
                        continue
                    seen.add(ev.event_id)
                    events.append(ev)
    finally:
        consumer.close(autocommit=False)

    window = {
        "topic": topic,
        "since_ts": since_ts,
        "until_ts": max((ev.ts for ev in events), default=None),
        "n_examples": len(events),
        "n_invalid": n_invalid,
        "offsets": {str(tp.partition): {"start": starts[tp], "end": read_to[tp]} for tp in tps},
        "model_versions": dict(Counter(ev.model_version for ev in events)),
    }
    return events, window

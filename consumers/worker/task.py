"""One input partition's share of the worker: its models, their inputs, and their state records.

A model's predictions, feedback and version announcements all arrive on the
same partition number of their topics (they are keyed by ``model_id``), and
its state lives on that partition of the state topic. :class:`PartitionTask`
holds the models of one partition number: their monitors, the inputs waiting
to be processed, the outputs waiting to be written, and what to write to the
state topic at the next commit (:meth:`PartitionTask.state_records`).

Every state record of a model carries the input offsets it includes. When
inputs are read again (after a restart from older committed offsets), those
below a model's offsets were applied already and are skipped
(:meth:`Slot.applied`), so nothing is counted twice.

The model record lists the digests of the join entries it expects; entries
are written before it and deleted after it, so whatever a kill interrupts,
what is read back is one consistent state: the record, and the entries it
names.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from driftline.consumers.dedup import digests
from driftline.consumers.monitor import ModelMonitor, MonitorConfig, MonitorOutput, ProfileSource
from driftline.consumers.state import codec, records
from driftline.consumers.worker.output import Source
from driftline.contract import Feedback, Prediction

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Slot:
    """One model of the partition."""

    monitor: ModelMonitor
    offsets: dict[str, int] = dataclasses.field(default_factory=dict)  # "topic" -> next offset applied
    gen: int = 0
    blobs: dict[str, int] = dataclasses.field(default_factory=dict)  # blob name -> parts written
    blob_bytes: dict[str, int] = dataclasses.field(default_factory=dict)  # blob name -> bytes
    state_bytes: int = 0  # of the model's records on the state topic, pending ones estimated
    pending_written: tuple[int, int] = (0, 0)  # pending records written, their bytes
    inbox: list[Prediction | Feedback] = dataclasses.field(default_factory=list)
    sources: list[Source] = dataclasses.field(default_factory=list)
    out: MonitorOutput = dataclasses.field(default_factory=MonitorOutput)
    dead: list[tuple[Source, str]] = dataclasses.field(default_factory=list)  # inputs refused, why
    dirty: bool = False
    urgent: bool = False  # an alert or a retrain request waits to be written

    def applied(self, topic: str, offset: int) -> bool:
        """Whether the input at ``offset`` of ``topic`` is part of the stored state already."""
        return offset < self.offsets.get(topic, 0)


class PartitionTask:
    """The models of input partition ``partition`` (see the module docstring)."""

    def __init__(self, partition: int, config: MonitorConfig, profiles: ProfileSource | None) -> None:
        self.partition = partition
        self.config = config
        self.profiles = profiles
        self.models: dict[str, Slot] = {}
        self.next: dict[str, int] = {}  # input topic -> next offset to process
        self._orphans: list[bytes] = []  # keys read back that no record needs: deleted at the next write
        self.reset_models: list[tuple[str, str]] = []  # (model_id, why) of state that could not be read

    # ------------------------------------------------------------ recovery

    def restore(self, values: dict[bytes, bytes]) -> None:
        """Take the models' state from the records read back from the state topic."""
        by_model: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            try:
                k = records.decode_key(key)
            except Exception:  # not ours: left alone
                continue
            entry = by_model.setdefault(k[1], {"record": None, "pending": []})
            if k[0] == "m":
                entry["record"] = value
            elif k[0] == "p" and len(k) == 4:
                entry["pending"].append((key, (str(k[2]), str(k[3])), value))
        for model_id, entry in by_model.items():
            if entry["record"] is None:
                self._orphans += [key for key, _, _ in entry["pending"]]
                continue
            try:
                head = records.decode_model(model_id, entry["record"], values.__getitem__)
                monitor = ModelMonitor.from_state(head["monitor"], self.config, self.profiles)
                expected = np.asarray(head.get("pending_digests", np.zeros(0, dtype=np.uint64)),
                                      dtype=np.uint64)
                keep = []
                for key, pkey, value in entry["pending"]:
                    keep.append((key, pkey, value))
                found = digests([f"{k}:{e}" for _, (k, e), _ in keep])
                named = np.isin(found, expected)
                monitor.join.restore((pkey, codec.loads(value))
                                     for (_, pkey, value), ok in zip(keep, named) if ok)
                self._orphans += [key for (key, _, _), ok in zip(keep, named) if not ok]
            except Exception as exc:  # unreadable state: the model starts afresh, and says so
                log.warning("monitor state of %r cannot be read back, starting afresh: %r",
                            model_id, exc)
                self.reset_models.append((model_id, f"its stored state could not be read ({exc!r:.200})"))
                continue
            self.models[model_id] = Slot(monitor, offsets=dict(head["offsets"]), gen=int(head["gen"]),
                                         blobs=dict(head["blobs"]))

    # ------------------------------------------------------------ inputs

    def slot(self, model_id: str) -> Slot:
        slot = self.models.get(model_id)
        if slot is None:
            slot = self.models[model_id] = Slot(ModelMonitor(model_id, self.config, self.profiles))
        return slot

    def process(self, slot: Slot, now_ms: int, on_error: Callable[[Slot, BaseException], None]) -> None:
        """Run the slot's waiting inputs through its monitor; outputs wait in ``slot.out``."""
        if not slot.inbox:
            return
        events, sources = slot.inbox, slot.sources
        slot.inbox, slot.sources = [], []
        slot.dirty = True
        try:
            out = slot.monitor.process(events, now_ms)
        except Exception as exc:  # a fault of ours must not stop the other models
            on_error(slot, exc)
            for src in sources:
                slot.dead.append((src, f"the monitor failed on this model's batch: {exc!r:.300}"))
            return
        for index, why in out.rejected:
            slot.dead.append((sources[index], why))
        o = slot.out
        o.labeled += out.labeled
        o.alerts += out.alerts
        o.retrain += out.retrain
        o.metrics += out.metrics
        if out.alerts or out.retrain:
            slot.urgent = True

    # ------------------------------------------------------------ state records

    def state_records(self, topics: list[str]) -> list[tuple[bytes, bytes | None]]:
        """``(key, value)`` to write for every model changed since the last call; None deletes."""
        offsets = {t: self.next[t] for t in topics if t in self.next}
        writes: list[tuple[bytes, bytes | None]] = []
        deletes: list[tuple[bytes, None]] = [(k, None) for k in self._orphans]
        self._orphans = []
        for model_id, slot in self.models.items():
            if not slot.dirty:
                continue
            slot.dirty = False
            monitor = slot.monitor
            new, gone = monitor.join.changes()
            waiting = list(monitor.join.pending)
            state = monitor.state_dict(pending=False)
            slot.offsets = {**slot.offsets, **offsets}
            slot.gen += 1
            head_extra = np.sort(digests([f"{k}:{e}" for k, e in waiting]))
            encoded = records.encode_model(model_id, {**state}, slot.offsets, slot.gen,
                                           known=slot.blobs, extra={"pending_digests": head_extra})
            written, size = slot.pending_written
            for (kind, event_id), value in new.items():
                record = codec.dumps(value)
                written, size = written + 1, size + len(record)
                writes.append((records.key_pending(model_id, kind, event_id), record))
            slot.pending_written = written, size
            writes += list(encoded.values.items())  # blobs, then the model record last
            fresh: dict[str, int] = {}
            for key, value in encoded.values.items():
                kind, _model, *rest = records.decode_key(key)
                if kind == "b":
                    fresh[rest[0]] = fresh.get(rest[0], 0) + len(value)
            slot.blob_bytes = {name: fresh.get(name, slot.blob_bytes.get(name, 0)) for name in encoded.blobs}
            # Pending records are sized by their mean, not kept one by one.
            slot.state_bytes = (len(encoded.values[records.key_model(model_id)])
                                + sum(slot.blob_bytes.values())
                                + (size * len(waiting) // written if written else 0))
            deletes += [(records.key_pending(model_id, kind, event_id), None) for kind, event_id in gone]
            for name, parts in slot.blobs.items():
                if name not in encoded.blobs:
                    deletes += [(records.key_blob(model_id, name, i), None) for i in range(parts)]
            slot.blobs = encoded.blobs
        return writes + deletes

    def forget(self, model_id: str) -> None:
        self.models.pop(model_id, None)

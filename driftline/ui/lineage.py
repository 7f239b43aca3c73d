"""The registry as the dashboard shows it: each model's champion and every version's lineage, read only.

A version's lineage is why it exists: the retrain request and the alerts behind
it, the data window it was trained on, the gate's figures and reason, its parent.

>>> from driftline.retrainer.persistence.registry import Registry
>>> with Registry("sqlite://") as registry:
...     _ = registry.register("fraud", status="champion", parent_version=None, request_id="q1",
...                           alert_ids=["a1"], window={"topic": "t.labeled", "n_examples": 900},
...                           metrics={"holdout_accuracy": 0.9, "champion_holdout_accuracy": 0.7},
...                           artifact_uri=None, sha256=None, reason="better by 0.2", trainer="t",
...                           features=["x"])
...     doc = model_lineage(registry, "fraud")
>>> doc["champion"], doc["versions"][0]["alert_ids"], doc["versions"][0]["gate"]["holdout_accuracy"]
('1', ['a1'], 0.9)
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger("driftline.ui")



def _scalars(d: Any) -> dict[str, Any]:
    """The plain figures of a dict (numbers, text, flags), none of its nested parts."""
    if not isinstance(d, dict):
        return {}
    return {k: v for k, v in d.items() if v is None or isinstance(v, (int, float, str, bool))}


def version_doc(v: Any) -> dict[str, Any]:
    """One registered version as JSON: status, parent, request, alerts, window and gate."""
    metrics = dict(v.metrics or {})
    window = dict(v.window or {})
    return {
        "version": v.version, "status": v.status, "parent_version": v.parent_version,
        "request_id": v.request_id, "alert_ids": list(v.alert_ids or ()),
        "created_at": v.created_at, "status_changed_at": v.status_changed_at,
        "reason": v.reason, "status_reason": v.status_reason, "trainer": v.trainer,
        "window": {k: window.get(k) for k in ("topic", "first_ts", "until_ts", "n_examples", "offsets")},
        # The holdout figures of challenger, champion and baseline, and the gate's decision
        # (metric, gain, its lower bound, p-value, margin) as the retrainer recorded them.
        "gate": _scalars(metrics) | {"decision": _scalars(metrics.get("gate"))},
    }


def model_lineage(registry: Any, model_id: str) -> dict[str, Any]:
    """A model's champion, its chain of parents, and every version newest first."""
    champion = registry.champion(model_id)
    chain = [v.version for v in registry.lineage(model_id, champion.version)] if champion else []
    versions = sorted(registry.versions(model_id), key=lambda v: int(v.version), reverse=True)
    return {"model_id": model_id, "champion": champion.version if champion else None,
            "lineage": chain, "versions": [version_doc(v) for v in versions]}


class RegistryView:
    """Opens the registry on first use (never creating a SQLite file that is not there) and reads it.

    ``error`` says why it could not be read, for the page to show. What it read
    is kept for ``max_age_s``, so many open pages cost the database one read.
    """

    def __init__(self, url: str, max_age_s: float = 2.0) -> None:
        self.url = url
        self.max_age_s = max_age_s
        self.error: str | None = None
        self._reader: Any = None
        self._lock = threading.Lock()
        self._kept: tuple[float, dict] | None = None

    def _open(self) -> Any:
        if self._reader is not None:
            return self._reader
        parsed = make_url(self.url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
                and not Path(parsed.database).expanduser().exists():
            self.error = "no registry yet (no retrainer has written one)"
            return None
        from driftline.retrainer.persistence.registry_reader import RegistryReader

        try:
            self._reader = RegistryReader(self.url)
        except Exception as exc:
            self.error = str(exc)
            return None
        self.error = None
        return self._reader

    def read(self, fn: Any) -> Any:
        """``fn(reader)``, or None when the registry cannot be read (``error`` says why)."""
        with self._lock:
            reader = self._open()
            if reader is None:
                return None
            try:
                return fn(reader)
            except Exception as exc:
                log.warning("reading the registry failed: %s", exc)
                self.error = f"reading the registry failed: {exc}"
                return None

    def models(self) -> dict[str, dict[str, Any]]:
        """model_id -> its lineage document, for every model in the registry."""
        kept = self._kept
        if kept is not None and time.monotonic() - kept[0] < self.max_age_s:
            return kept[1]
        found = self.read(lambda r: {m: model_lineage(r, m) for m in r.models()})
        if found is None:
            return {}
        self._kept = (time.monotonic(), found)
        return found

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

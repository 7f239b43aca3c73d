"""Artifacts no version points to, left by a worker that died mid-way, are swept once old enough."""

from __future__ import annotations

import os
import time

from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.registry import Registry
from driftline.retrainer.orchestration.worker import sweep_orphan_artifacts


def test_only_old_unreferenced_artifacts_are_removed(registry: Registry, store: ArtifactStore) -> None:
    kept_uri, kept_sha = store.put("m", "1", {"w": 1})
    registry.register("m", status="champion", parent_version=None, request_id="q1", alert_ids=[],
                      window={}, metrics={}, artifact_uri=kept_uri, sha256=kept_sha, reason="r",
                      trainer="t:f", features=["x"])
    orphan_uri, _ = store.put("m", "2", {"w": 2})  # its worker died before registering it
    fresh_uri, _ = store.put("other", "1", {"w": 3})  # a live worker is about to register it
    torn = store.root / "m" / ".tmp-abc.pkl"  # a write cut short
    torn.write_bytes(b"half")
    hour_ago = time.time() - 3600
    for path in (ArtifactStore.path_of(kept_uri), ArtifactStore.path_of(orphan_uri), torn):
        os.utime(path, (hour_ago, hour_ago))

    removed = sweep_orphan_artifacts(registry, store, older_than_s=600)

    assert sorted(removed) == sorted([orphan_uri, torn.as_uri()])
    assert store.load(kept_uri, kept_sha) == {"w": 1}
    assert ArtifactStore.path_of(fresh_uri).exists()
    assert sweep_orphan_artifacts(registry, store, older_than_s=600) == []

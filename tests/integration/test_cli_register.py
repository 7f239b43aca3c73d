"""`driftline models register MODEL --from PATH`: a user's fitted model served as the first champion."""

from __future__ import annotations

import json
import pickle

import pytest

from driftline.kafka_admin import ensure_topics
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.persistence.registry import Registry
from tests.integration.test_cli import driftline
from tests.retrainer.learners.test_frame_estimators import events
from tests.retrainer.orchestration.test_register_fitted import frame_of, user_pipeline

pytestmark = pytest.mark.broker


def test_a_fitted_pipeline_is_registered_published_and_served(settings, tmp_path):
    from driftline.producers import ModelClient

    ensure_topics(settings)
    pipe = user_pipeline()
    path = tmp_path / "fraud.pkl"
    path.write_bytes(pickle.dumps(pipe))
    done = driftline(settings, "models", "register", "fraud", "--from", str(path), "--gate-margin", "0.01")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"fraud: v1 is champion (registered by hand from {path}, features amount, "
                                   f"n_items, country); published on {settings.topic_prefix}model-versions")
    show = driftline(settings, "models", "show", "fraud").stdout
    assert f"origin:   user-supplied, registered from {path}" in show, show
    with Registry(settings.resolved_registry_url) as registry:
        assert registry.model("fraud").gate_margin == 0.01
        client = ModelClient("fraud", registry=registry, store=ArtifactStore.from_settings(settings),
                             settings=settings)
        try:
            assert client.wait_for_version("1", timeout=30)
            rows = events(50, seed=31)
            answers = [client.predict(e.features) for e in rows]
        finally:
            client.close()
    assert answers == [(int(a), "1") for a in pipe.predict(frame_of(rows)[0])]

    again = driftline(settings, "models", "register", "fraud", "--from", str(path), "--json")
    assert again.returncode == 1
    assert again.stderr.strip() == (f"driftline models: error: model 'fraud' has a champion already (v1); "
                                    f"--replace makes the model from {path} its champion instead")
    replaced = json.loads(driftline(settings, "models", "register", "fraud", "--from", str(path),
                                    "--replace", "--json").stdout)
    assert (replaced["champion"]["version"], replaced["champion"]["parent_version"]) == ("2", "1")


@pytest.mark.parametrize("content, message", [
    (None, "cannot be read: No such file or directory"),
    (b"\x00\x01 not a model", "is neither a pickle nor a joblib file: "),
])
def test_a_bad_source_is_one_line_and_changes_nothing(settings, tmp_path, content, message):
    ensure_topics(settings)
    path = tmp_path / "model.pkl"
    if content is not None:
        path.write_bytes(content)
    done = driftline(settings, "models", "register", "fraud", "--from", str(path))
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"driftline models: error: {path} {message}")
    with Registry(settings.resolved_registry_url) as registry:
        assert registry.versions("fraud") == [] and registry.model("fraud") is None

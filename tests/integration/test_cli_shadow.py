"""`driftline models` and shadow runs: a registration's setting, a version in shadow, its figures."""

from __future__ import annotations

import json
import os

from driftline.retrainer.persistence.registry import Registry
from tests.integration.test_cli import _models


def test_a_registration_sets_shadow_runs_and_show_tells_what_a_shadow_did(tmp_path):
    env = {**os.environ, "DRIFTLINE_HOME": str(tmp_path)}
    done = _models(env, "register", "fraud", "--shadow-events", "500")
    assert done.returncode == 0, done.stderr
    assert "shadow:   500 live labeled events" in done.stdout
    assert json.loads(_models(env, "register", "fraud", "--json").stdout)["shadow_events"] == 500
    assert "shadow:   none" in _models(env, "register", "fraud", "--shadow-events", "0").stdout
    bad = _models(env, "register", "fraud", "--shadow-events", "-5")
    assert bad.returncode == 2 and "argument --shadow-events: expected a number >= 0, got -5" in bad.stderr

    common = dict(parent_version=None, alert_ids=[], window={}, artifact_uri="file:///a.pkl",
                  sha256="0" * 64, trainer="t", features=["x"])
    with Registry(f"sqlite:///{tmp_path / 'registry.db'}") as registry:
        registry.register("fraud", status="champion", request_id="q1", metrics={}, reason="first", **common)
        registry.register("fraud", status="shadow", request_id="q2", metrics={}, reason="gate", **common)
        show = _models(env, "show", "fraud").stdout
        assert "in shadow: v2 since" in show and "champion: v1" in show
        registry.conclude_shadow("fraud", "2", promote=True, reason="promoted after its shadow run: ...",
                                 figures={"metric": "accuracy", "challenger": 0.91, "champion": 0.72,
                                          "champion_version": "1", "n_events": 500, "n": 500})
    show = _models(env, "show", "fraud").stdout
    assert "in shadow" not in show and "champion: v2" in show
    assert "shadow:   accuracy 0.910 against the champion v1's 0.720 on 500 live labeled events" in show
    history = _models(env, "history", "fraud").stdout.splitlines()
    assert "replaced by v2 after its shadow run" in history[1]
    assert "promoted after its shadow run" in history[2]

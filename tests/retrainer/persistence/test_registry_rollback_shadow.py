"""The registry's side of an automatic rollback and of shadow runs, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from driftline.retrainer.exceptions import RegistryError
from driftline.retrainer.persistence.registry import Registry
from tests.retrainer.orchestration.test_promote import COMMON, _register, statuses


def test_a_rollback_request_demotes_its_version_once_and_closes_its_run(registry_url):
    with Registry(registry_url) as reg:
        for request in ("q1", "q2", "q3"):
            _register(reg, request)
        reg.start_run("m", "rb1", "w1", ["a9"])
        restored = reg.rollback("m", "v3 fell short", from_version="3", request_id="rb1")
        assert (restored.version, restored.status, restored.status_reason) == ("2", "champion", "v3 fell short")
        assert statuses(reg) == [("1", "archived"), ("2", "champion"), ("3", "demoted")]
        assert reg.get("m", "3").status_reason == "demoted: v2 is champion again (v3 fell short)"
        run = reg.run("m", "rb1")
        assert (run.state, run.version, run.outcome) == ("finished", "2", "v3 fell short")
        # Delivered again: v3 is no longer the champion, so nothing changes.
        assert reg.rollback("m", "v3 fell short", from_version="3", request_id="rb1") is None
        assert statuses(reg) == [("1", "archived"), ("2", "champion"), ("3", "demoted")]
        reg.start_run("m", "rb2", "w1")
        assert reg.rollback("m", "late", from_version="3", request_id="rb2") is None
        assert reg.run("m", "rb2").outcome == "nothing to roll back: v3 is not the champion (v2 is)"
        # A demoted version is never restored: from v2 the only way back is v1.
        assert reg.rollback("m", from_version="2").version == "1"
        with pytest.raises(RegistryError, match="no earlier champion"):
            reg.rollback("m", from_version="1")


def test_a_shadow_is_promoted_or_rejected_with_its_figures(registry_url):
    with Registry(registry_url) as reg:
        _register(reg, "q1")
        reg.start_run("m", "q2", "w1")
        shadow = reg.register("m", status="shadow", request_id="q2", artifact_uri="file:///a/q2",
                              sha256="1" * 64, **COMMON)
        assert (shadow.status, reg.champion("m").version) == ("shadow", "1")
        assert shadow.status_reason.startswith("in shadow")
        assert reg.run("m", "q2").state == "finished"
        figures = {"n_events": 500, "challenger": 0.9, "champion": 0.7}
        promoted = reg.conclude_shadow("m", "2", promote=True, reason="promoted after shadow",
                                       figures=figures, request_id="q2")
        assert (promoted.status, promoted.metrics["shadow"], promoted.artifact_uri) == (
            "champion", figures, "file:///a/q2")
        assert statuses(reg) == [("1", "archived"), ("2", "champion")]
        assert reg.get("m", "1").status_reason == "replaced by v2 after its shadow run"
        assert reg.run("m", "q2").outcome == "promoted after shadow"
        # Concluded already: a second conclusion changes nothing.
        again = reg.conclude_shadow("m", "2", promote=False, reason="x", figures={})
        assert again == promoted

        reg.register("m", status="shadow", request_id="q3", artifact_uri="file:///a/q3",
                     sha256="2" * 64, **COMMON)
        rejected = reg.conclude_shadow("m", "3", promote=False, reason="rejected after shadow",
                                       figures={"n_events": 12})
        assert (rejected.status, rejected.artifact_uri, rejected.sha256) == ("rejected", None, None)
        assert rejected.status_reason == "rejected after shadow"
        assert statuses(reg) == [("1", "archived"), ("2", "champion"), ("3", "rejected")]
        with pytest.raises(RegistryError, match="no version '9'"):
            reg.conclude_shadow("m", "9", promote=True, reason="", figures={})


def test_a_registration_may_set_its_shadow_run(registry_url):
    with Registry(registry_url) as reg:
        assert reg.register_model("m").shadow_events is None
        assert reg.register_model("m", shadow_events=500).shadow_events == 500
        assert reg.register_model("m", gate_margin=0.1).shadow_events == 500  # kept
        assert reg.register_model("m", shadow_events=0).shadow_events == 0
        with pytest.raises(RegistryError, match="shadow events must be an integer >= 0"):
            reg.register_model("m", shadow_events=-1)


def test_a_version_is_announced_with_why_it_has_its_status():
    with Registry("sqlite://") as reg:
        _register(reg, "q1")
        v2 = _register(reg, "q2")
        assert v2.announcement(ts=5).reason == "r"
        restored = reg.rollback("m", "v2 fell short")
        event = restored.announcement(ts=7)
        assert (event.version, event.status, event.reason, event.ts) == ("1", "champion", "v2 fell short", 7)
        assert restored.announcement(ts=7, reason="by hand").reason == "by hand"

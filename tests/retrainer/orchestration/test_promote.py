"""Promoting a version by hand and rolling back, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from driftline.retrainer.exceptions import RegistryError
from driftline.retrainer.persistence.registry import Registry

COMMON = dict(parent_version=None, alert_ids=[], window={}, metrics={}, trainer="t",
              features=["x"], reason="r")


def _register(reg: Registry, request: str, status: str = "champion"):
    artifact = {"artifact_uri": f"file:///a/{request}", "sha256": "0" * 64} \
        if status == "champion" else {"artifact_uri": None, "sha256": None}
    return reg.register("m", status=status, request_id=request, **artifact, **COMMON)


def statuses(reg: Registry) -> list[tuple[str, str]]:
    return [(v.version, v.status) for v in reg.versions("m")]


def test_rollback_restores_the_previous_champion_and_promote_pins_one(registry_url):
    with Registry(registry_url) as reg:
        for request in ("q1", "q2", "q3"):
            _register(reg, request)
        _register(reg, "q4", status="rejected")
        assert reg.rollback("m").version == "2"
        assert statuses(reg) == [("1", "archived"), ("2", "champion"), ("3", "demoted"),
                                 ("4", "rejected")]
        assert reg.rollback("m").version == "1"  # a demoted version is never restored
        with pytest.raises(RegistryError, match="no earlier champion"):
            reg.rollback("m")
        assert reg.promote("m", "3").version == "3"
        assert reg.champion("m").version == "3"
        assert [s for _, s in statuses(reg)].count("champion") == 1
        with pytest.raises(RegistryError, match="has no artifact"):
            reg.promote("m", "4")
        with pytest.raises(RegistryError, match="no version '9'"):
            reg.promote("m", "9")
        with pytest.raises(RegistryError, match="no champion"):
            reg.rollback("other")

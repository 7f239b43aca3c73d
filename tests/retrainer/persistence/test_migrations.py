"""Schema migrations: they build exactly the ORM's schema, keep the versions of a registry made
before migrations existed, and two processes opening one database at once both succeed."""

from __future__ import annotations

import multiprocessing
import time

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from driftline.retrainer.persistence import migrate
from driftline.retrainer.persistence.registry import Registry
from driftline.retrainer.persistence.schema import Base
from tests.retrainer.legacy_schema import LegacyBase, LegacyVersionRow


def _differences(url: str) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "version_table": migrate.VERSION_TABLE, "compare_type": True,
                "compare_server_default": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_the_migrations_build_exactly_the_orm_schema(registry_url: str) -> None:
    Registry(registry_url).close()
    assert _differences(registry_url) == []
    engine = sa.create_engine(registry_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_a_registry_made_before_migrations_keeps_its_versions(registry_url: str) -> None:
    engine = sa.create_engine(registry_url)
    LegacyBase.metadata.create_all(engine)  # what driftline did before it had migrations
    with engine.begin() as conn:
        for num, status in ((1, "archived"), (2, "champion")):
            conn.execute(sa.insert(LegacyVersionRow).values(
                model_id="fraud", version_num=num, status=status,
                parent_version=str(num - 1) if num > 1 else None, request_id=f"q{num}",
                alert_ids=["a1"], window={"n_examples": 10}, metrics={"holdout_accuracy": 0.9},
                artifact_uri=f"file:///a/{num}.pkl", sha256="0" * 64, reason="old", trainer="t:f",
                features=["x"], created_at=1_700_000_000_000 + num))
    assert migrate.current_revision(engine) is None
    engine.dispose()

    with Registry(registry_url) as registry:
        assert [(v.version, v.status) for v in registry.versions("fraud")] == [
            ("1", "archived"), ("2", "champion")]
        old = registry.champion("fraud")
        assert (old.request_id, old.metrics, old.trainer_params, old.reference) == (
            "q2", {"holdout_accuracy": 0.9}, {}, None)
        # The upgraded database takes new versions, registrations and runs.
        registry.register_model("fraud", trainer="pkg.mod:fit")
        registry.start_run("fraud", "q3", "w1")
        new = registry.register("fraud", status="champion", parent_version="2", request_id="q3",
                                alert_ids=[], window={}, metrics={}, artifact_uri=None,
                                sha256=None, reason="new", trainer="pkg.mod:fit", features=["x"],
                                reference={"x": {"mean": 1.0}})
        assert (new.version, new.reference) == ("3", {"x": {"mean": 1.0}})
        assert registry.run("fraud", "q3").state == "finished"
    assert _differences(registry_url) == []


def _open(url: str, start_at: float, out: multiprocessing.Queue) -> None:
    time.sleep(max(0.0, start_at - time.time()))
    try:
        with Registry(url) as registry:
            registry.register_model("m")
        out.put("ok")
    except Exception as exc:  # reported to the test, which fails with it
        out.put(f"{type(exc).__name__}: {exc}")


def test_two_processes_opening_a_new_database_at_once_both_succeed(registry_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # both are importing by then; they migrate at the same moment
    procs = [ctx.Process(target=_open, args=(registry_url, start_at, out)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=90) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    out.close()
    assert results == ["ok"] * 3
    assert _differences(registry_url) == []


def test_a_database_migrated_by_a_newer_release_is_used_as_it_is(registry_url: str, caplog) -> None:
    Registry(registry_url).close()
    engine = sa.create_engine(registry_url)
    with engine.begin() as conn:  # as if a newer driftline had added revision 9999
        conn.execute(sa.text(f"UPDATE {migrate.VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    with Registry(registry_url) as registry:
        assert registry.register_model("m").model_id == "m"
    assert "at revision 9999, which this driftline does not know" in caplog.text

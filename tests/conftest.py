"""Shared fixtures: one real broker per session, a unique topic prefix per test.

With ``CI=true`` a broker or database that cannot be had fails the run; it
never turns into skipped tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from driftline.settings import Settings
from tests.secured import SecuredBroker, sasl_ssl_broker
from tests.services import kafka_broker, postgres_server

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(what: str, why: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI: {why}", pytrace=False)
    pytest.skip(f"{what} not available: {why}")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    try:
        with kafka_broker() as (bootstrap, _):
            yield bootstrap
    except Exception as exc:  # the broker could not be had at all
        _unavailable("a Kafka broker", str(exc))


@pytest.fixture(scope="session")
def secured_broker() -> Iterator[SecuredBroker]:
    """A second local broker, SASL_SSL only, for the tests of security; started once."""
    try:
        with sasl_ssl_broker() as broker:
            yield broker
    except Exception as exc:
        _unavailable("a SASL_SSL Kafka broker", str(exc))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        with postgres_server() as url:
            if url is None:
                _unavailable("PostgreSQL", "no initdb/pg_ctl and no DRIFTLINE_TEST_POSTGRES_URL")
            yield url
    except pytest.skip.Exception:
        raise
    except Exception as exc:
        _unavailable("PostgreSQL", str(exc))


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` (SQLite backend, artifacts in tmp) on 127.0.0.1, started once."""
    try:
        import mlflow  # noqa: F401  (the optional extra: pip install 'driftline[mlflow]')
    except ImportError as exc:
        _unavailable("mlflow", str(exc))
    from tests.mlflow_server import mlflow_server

    try:
        server = mlflow_server(tmp_path_factory.mktemp("mlflow"))
        uri = server.__enter__()
    except Exception as exc:
        _unavailable("an mlflow server", str(exc))
    try:
        yield uri
    finally:
        server.__exit__(None, None, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty registry database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    import sqlalchemy as sa

    base = request.getfixturevalue("postgres_url")
    name = f"t{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    yield base.rsplit("/", 1)[0] + "/" + name
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    engine.dispose()


@pytest.fixture
def settings_factory(kafka_bootstrap: str, tmp_path) -> Callable[..., Settings]:
    """Settings on the session broker with a topic prefix no other test uses."""

    def make(**overrides) -> Settings:
        base = {"kafka_bootstrap": kafka_bootstrap,
                "topic_prefix": f"t{uuid.uuid4().hex[:10]}.",
                "home": str(tmp_path / "home"),
                "partitions": 2}
        base.update(overrides)
        return Settings(**base)

    return make


@pytest.fixture
def settings(settings_factory) -> Settings:
    return settings_factory()

"""The whole loop over a SASL_SSL listener (SCRAM, a CA made with keytool), and every command's
output free of secrets."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]

ARTIFACT_KEY = f"artifact-key-{uuid.uuid4().hex}"
DB_PASSWORD = f"db-pw-{uuid.uuid4().hex[:8]}"


def _env(secured_broker, home: Path, registry_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env.update(secured_broker.env(), DRIFTLINE_HOME=str(home), DRIFTLINE_REGISTRY_URL=registry_url,
               DRIFTLINE_TOPIC_PREFIX=f"t{uuid.uuid4().hex[:10]}.", DRIFTLINE_ARTIFACT_KEY=ARTIFACT_KEY,
               DRIFTLINE_PARTITIONS="2", **extra)
    return env


def driftline(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "driftline", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _for_a_while(env: dict[str, str], role: str, seconds: float) -> str:
    """Run a long-running role for ``seconds``, stop it as an operator would; its output."""
    proc = subprocess.Popen([sys.executable, "-m", "driftline", role], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    return out


def _database(postgres_url: str) -> str:
    """A fresh database's URL with a password in it.

    The test server trusts loopback: the password is accepted and ignored, as a
    real one would be checked; what matters is that it is never shown.
    """
    import sqlalchemy as sa

    name = f"t{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    finally:
        engine.dispose()
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    return url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)


@pytest.fixture(scope="module")
def registry(postgres_url):
    return _database(postgres_url)


@pytest.fixture(scope="module")
def demo_run(secured_broker, registry, tmp_path_factory):
    home = tmp_path_factory.mktemp("sasl-demo")
    env = _env(secured_broker, home, registry)
    done = driftline(env, "demo", "--events", "24000", "--drift", "12000", "--seed", "3", timeout=600)
    logs = "".join(p.read_text(errors="replace") for p in (home / "logs").glob("*.log"))
    return done, logs


def test_the_loop_closes_over_sasl_ssl(demo_run):
    done, logs = demo_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + logs[-3000:]
    summary = done.stdout[done.stdout.index("driftline demo: summary"):]
    assert "loop closed      yes" in summary
    alert_at = int(re.search(r"alert            at event (\d+)", summary).group(1))
    live_at = int(re.search(r"live             at event (\d+)", summary).group(1))
    assert 12000 <= alert_at < live_at < 24000


def _stderr_when_answered(env: dict[str, str], *args: str) -> str:
    """The error output of ``driftline *args``, run again while the broker closed the login unanswered.

    A broker may close a refused SASL login without sending its answer (seen
    right after a burst of work); the command then says that no login
    finished and names the password as a suspect.
    """
    unanswered = (f"no Kafka broker answered at {env['DRIFTLINE_KAFKA_BOOTSTRAP'].split('//')[1]}: something "
                  "listens there but no SASL SCRAM-SHA-512 login of user 'alice' over SASL_SSL finished")
    for _ in range(4):
        done = driftline(env, *args)
        assert done.returncode == 1
        assert "not-the-password" not in done.stderr + done.stdout
        line = done.stderr.strip().splitlines()[-1]
        if unanswered not in line:
            return done.stderr
        assert line.endswith("; is DRIFTLINE_KAFKA_SASL_PASSWORD right, or does the listener expect another "
                             "DRIFTLINE_KAFKA_SECURITY_PROTOCOL than SASL_SSL?"), line
        time.sleep(10)
    return done.stderr


def test_a_wrong_password_is_one_clear_line(secured_broker, tmp_path):
    env = {**os.environ, **secured_broker.env(password="not-the-password"), "DRIFTLINE_HOME": str(tmp_path)}
    stderr = _stderr_when_answered(env, "alerts", "--timeout", "1")
    assert stderr == ("driftline alerts: error: Kafka at " + secured_broker.bootstrap + " refused the "
                      "SASL SCRAM-SHA-512 login of user 'alice' (DRIFTLINE_KAFKA_SASL_USERNAME / "
                      "DRIFTLINE_KAFKA_SASL_PASSWORD)\n")
    # A long-running role says it in one line too.
    line = _stderr_when_answered(env, "monitor").strip().splitlines()[-1]
    assert line.startswith(
        "driftline monitor: error: Kafka at " + secured_broker.bootstrap + " refused the SASL SCRAM-SHA-512"), line


def test_no_command_prints_a_secret(secured_broker, postgres_url, demo_run, tmp_path):
    """Every command, with secrets set, at debug level where it logs: nothing printed holds one."""
    registry = _database(postgres_url)
    env = _env(secured_broker, tmp_path, registry, DRIFTLINE_LOG_LEVEL="DEBUG")
    outputs = {"demo": demo_run[0].stdout + demo_run[0].stderr + demo_run[1]}

    def record(name: str, done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
        outputs[name] = done.stdout + done.stderr
        return done

    outputs["monitor"] = _for_a_while(env, "monitor", 15)
    outputs["retrainer"] = _for_a_while(env, "retrainer", 10)
    record("simulate", driftline(env, "simulate", "--events", "500", "--rate", "0", "--model-id", "m"))
    record("alerts", driftline(env, "alerts", "--from-beginning", "--timeout", "1"))
    record("models list (empty)", driftline(env, "models", "list"))
    record("models register", driftline(env, "models", "register", "m", "--task", "classification"))
    record("models list", driftline(env, "models", "list"))
    record("models list --json", driftline(env, "models", "--json", "list"))
    record("models show", driftline(env, "models", "show", "m"))
    record("models history", driftline(env, "models", "history", "m"))
    record("models promote (no such version)", driftline(env, "models", "promote", "m", "9"))
    record("models rollback (nothing to roll back)", driftline(env, "models", "rollback", "m"))
    record("broker status", driftline(env, "broker", "status"))
    bad = {**env, "DRIFTLINE_REGISTRY_URL": registry.replace("postgresql+psycopg", "mysql")}
    record("bad registry url", driftline(bad, "models", "list"))
    record("wrong password", driftline({**env, "DRIFTLINE_KAFKA_SASL_PASSWORD": "x" + secured_broker.password},
                                       "alerts", "--timeout", "1"))
    assert "no models registered in postgresql+psycopg://postgres:***@" in outputs["models list (empty)"]
    assert "DEBUG" in outputs["monitor"] and "DEBUG" in outputs["alerts"]  # debug level reached the output
    secrets = [secured_broker.password, DB_PASSWORD, ARTIFACT_KEY]
    leaks = {name: s for name, text in outputs.items() for s in secrets if s in text}
    assert leaks == {}, {name: outputs[name][:2000] for name in leaks}

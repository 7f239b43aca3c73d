"""Real services for the test suite: a Kafka broker and a PostgreSQL server.

Where the broker comes from, in order: ``DRIFTLINE_KAFKA_BOOTSTRAP`` if set;
a testcontainers Kafka if a Docker engine answers; otherwise a local broker
from Maven Central jars on free loopback ports. PostgreSQL: the URL in
``DRIFTLINE_TEST_POSTGRES_URL`` if set, else a throwaway cluster made with the
machine's ``initdb`` on a free port.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from driftline.broker import LocalBroker, free_port


def docker_answers(timeout: float = 2.0) -> bool:
    """Whether a Docker engine answers ``GET /_ping``.

    Asked over a plain socket: the docker SDK leaves a socket open when no
    engine is there, and ResourceWarning is an error in this suite.
    """
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            path = host[len("unix://"):]
            if not os.path.exists(path):
                return False
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            with sock:
                sock.connect(path)
                return _ping(sock)
        if host.startswith("tcp://"):
            hostport = host[len("tcp://"):].rstrip("/")
            name, _, port = hostport.rpartition(":")
            with socket.create_connection((name, int(port)), timeout=timeout) as sock:
                return _ping(sock)
    except OSError:
        return False
    return False


def _ping(sock: socket.socket) -> bool:
    sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
    reply = sock.recv(4096)
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


@contextlib.contextmanager
def kafka_broker() -> Iterator[tuple[str, str]]:
    """Yield ``(bootstrap, where_from)`` for a running broker, cleaning up after."""
    given = os.environ.get("DRIFTLINE_KAFKA_BOOTSTRAP")
    if given:
        yield given, "DRIFTLINE_KAFKA_BOOTSTRAP"
        return
    if docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server(), "testcontainers"
        return
    data = tempfile.mkdtemp(prefix="driftline-test-kafka-")
    broker = LocalBroker(data, port=free_port())
    try:
        broker.start()
        yield broker.bootstrap, f"local broker in {data}"
    finally:
        broker.stop()
        shutil.rmtree(data, ignore_errors=True)


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@contextlib.contextmanager
def postgres_server() -> Iterator[str | None]:
    """Yield an SQLAlchemy URL of a running PostgreSQL, or None if none can be had."""
    given = os.environ.get("DRIFTLINE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        yield None
        return
    data = Path(tempfile.mkdtemp(prefix="driftline-test-pg-"))
    port = free_port()
    # initdb refuses to run as root; the Debian package provides a postgres user.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if prefix:
        shutil.chown(data, "postgres")
    pgdata = data / "db"
    run = lambda *cmd: subprocess.run(prefix + list(cmd), check=True, capture_output=True,  # noqa: E731
                                      text=True, timeout=120)
    try:
        run(initdb, "-D", str(pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        run(pg_ctl, "-D", str(pgdata), "-l", str(data / "pg.log"), "-w", "-t", "60", "-o",
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data}",
            "start")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (pgdata / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                run(pg_ctl, "-D", str(pgdata), "-m", "immediate", "-w", "stop")
        time.sleep(0.1)
        shutil.rmtree(data, ignore_errors=True)

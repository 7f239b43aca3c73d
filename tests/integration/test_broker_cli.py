"""`driftline broker start|status|stop` runs a real Kafka broker on loopback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from kafka import KafkaAdminClient

from driftline.broker import free_port, port_answers

pytestmark = pytest.mark.broker


def driftline(*args: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "DRIFTLINE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "driftline", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_start_is_idempotent_status_reports_and_stop_is_clean(tmp_path):
    port = free_port()
    first = driftline("broker", "start", "--port", str(port), home=tmp_path)
    try:
        assert first.returncode == 0, first.stderr
        assert f"bootstrap 127.0.0.1:{port}" in first.stdout
        admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
        try:
            assert admin.describe_cluster()["brokers"]
        finally:
            admin.close()
        again = driftline("broker", "start", "--port", str(port), home=tmp_path)
        assert again.returncode == 0 and "already running" in again.stdout
        status = driftline("broker", "status", home=tmp_path)
        assert status.returncode == 0 and "running, Kafka 4.3.1" in status.stdout
    finally:
        stop = driftline("broker", "stop", home=tmp_path)
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert not port_answers(port)
    status = driftline("broker", "status", home=tmp_path)
    assert status.returncode == 3 and "stopped" in status.stdout


def test_bad_port_is_one_line(tmp_path):
    done = driftline("broker", "start", "--port", "70000", home=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "65535" in done.stderr

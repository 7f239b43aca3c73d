"""A real ``mlflow server`` for the tests: 127.0.0.1, a free port, a SQLite backend, artifacts in a tmp folder."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from driftline.broker import free_port


@contextlib.contextmanager
def mlflow_server(folder: Path, timeout_s: float = 120.0) -> Iterator[str]:
    """Serve MLflow's tracking server and model registry until the block ends; yields its URI.

    Artifacts go through the server (``--artifacts-destination``), as a remote
    client's would. Its own process group, so its workers stop with it.
    """
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = folder / "mlflow-server.log"
    # The server's background job runner (a pool of consumers) serves nothing these tests use.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
             "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
             "--artifacts-destination", str(folder / "artifacts"), "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            assert time.monotonic() < deadline, f"mlflow server never answered at {uri}"
            time.sleep(0.25)
        yield uri
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

"""A local server program (Prometheus, Alertmanager) run for a test: started, waited for, stopped."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI


def program(*names: str, package: str) -> str:
    """The path of the first of ``names`` on PATH; in CI its absence fails the test, else skips it."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    if IN_CI:
        pytest.fail(f"{names[0]} is required in CI (Debian package {package})")
    pytest.skip(f"{names[0]} not installed (Debian package {package})")


@contextlib.contextmanager
def serving(command: list[str], ready_url: str, log: Path, timeout_s: float = 60.0) -> Iterator[None]:
    """Run ``command`` (output to ``log``) until the block ends; entered once ``ready_url`` answers 200."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(ready_url, timeout=2) as answer:
                        if answer.status == 200:
                            break
                assert time.monotonic() < deadline, f"{command[0]} never answered {ready_url}"
                time.sleep(0.2)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

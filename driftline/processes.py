"""Running driftline roles as child processes, configured by the same settings."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from driftline.exceptions import DriftlineError
from driftline.settings import ENV, Settings


def settings_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which ``Settings.from_env()`` gives back ``settings``."""
    env = dict(os.environ if base is None else base)
    for field in dataclasses.fields(Settings):
        value = getattr(settings, field.name)
        env[ENV[field.name]] = ",".join(value) if isinstance(value, tuple) else str(value)
    return env


@contextlib.contextmanager
def run_roles(settings: Settings, roles: Iterable[str], log_dir: Path,
              grace_s: float = 30.0) -> Iterator[dict[str, subprocess.Popen]]:
    """Start ``driftline <role>`` for each role; stop them (SIGTERM, then SIGKILL) after.

    Raises :class:`DriftlineError` on leaving if a role died on its own.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    env = settings_env(settings)
    procs: dict[str, subprocess.Popen] = {}
    try:
        for role in roles:
            with open(log_dir / f"{role}.log", "ab") as log:
                procs[role] = subprocess.Popen(
                    [sys.executable, "-m", "driftline", role], env=env, stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        yield procs
        dead = {r: p.returncode for r, p in procs.items() if p.poll() is not None}
        if dead:
            raise DriftlineError("exited early: " + ", ".join(
                f"the {r} (code {c}, log {log_dir / (r + '.log')})" for r, c in dead.items()))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

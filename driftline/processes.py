"""Running driftline roles as child processes, configured by the same settings."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from driftline.exceptions import DriftlineError, SettingsError
from driftline.redact import Secret
from driftline.settings import ENV, FILE_SUFFIX, FROM_FILE, Settings, read_setting_file


def settings_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which ``Settings.from_env()`` gives back ``settings``.

    A setting read from a file (``*_FILE``) that still holds the same value
    is passed on as that file, so the secret does not enter the child's
    environment.
    """
    env = dict(os.environ if base is None else base)
    for field in dataclasses.fields(Settings):
        var, value = ENV[field.name], getattr(settings, field.name)
        value = value.reveal() if isinstance(value, Secret) else value
        file_var = var + FILE_SUFFIX
        if field.name in FROM_FILE and env.get(file_var):
            try:
                in_file = read_setting_file(env[file_var], file_var)
            except SettingsError:
                in_file = None
            if in_file is not None and in_file.strip() == value:
                env.pop(var, None)
                continue
            del env[file_var]
        env[var] = ",".join(value) if isinstance(value, tuple) else str(value)
    return env


def group_of(settings: Settings, role: str) -> str | None:
    """The consumer group a role's workers share, or None for a role without one.

    >>> group_of(Settings(topic_prefix="prod."), "monitor"), group_of(Settings(), "simulate")
    ('prod.monitor', None)
    """
    return f"{settings.topic_prefix}{role}" if role in ("monitor", "retrainer") else None


def wait_ready(settings: Settings, procs: dict[str, subprocess.Popen], timeout_s: float) -> None:
    """Wait until every role in ``procs`` that consumes has joined its consumer group.

    Traffic sent before then is not lost, but a worker that is still starting
    (joining a group and reading state back take seconds) makes every measured delay longer. Returns
    early if a role exits; :func:`run_roles` reports that when it is left.
    """
    from driftline.kafka_admin import admin_client

    groups = [g for g in (group_of(settings, role) for role in procs) if g]
    if not groups:
        return
    # kafka-python warns that it cannot decode other clients' member metadata; only the state is read.
    logging.getLogger("kafka.admin").setLevel(logging.ERROR)
    admin = admin_client(settings)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs.values()):
                return
            try:
                info = admin.describe_groups(groups)
            except Exception:  # the coordinator may not exist yet
                info = {}
            if all(info.get(g, {}).get("group_state") == "Stable" and info[g].get("members")
                   for g in groups):
                return
            time.sleep(0.2)
    finally:
        admin.close()
    raise DriftlineError(f"{', '.join(procs)} did not join their consumer groups "
                         f"({', '.join(groups)}) within {timeout_s:.0f} s")


@contextlib.contextmanager
def run_roles(settings: Settings, roles: Iterable[str], log_dir: Path,
              grace_s: float = 30.0, ready_s: float = 120.0,
              env_of: Mapping[str, Mapping[str, str]] | None = None) -> Iterator[dict[str, subprocess.Popen]]:
    """Start ``driftline <role>`` for each role; stop them (SIGTERM, then SIGKILL) after.

    Yields once every role has joined its consumer group (at most ``ready_s``;
    0 does not wait). Raises :class:`DriftlineError` on leaving if a role died
    on its own. ``env_of`` adds variables to one role's environment (each
    worker on a host needs its own ``DRIFTLINE_HTTP_PORT``, say).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    env = settings_env(settings)
    procs: dict[str, subprocess.Popen] = {}
    try:
        for role in roles:
            with open(log_dir / f"{role}.log", "ab") as log:
                procs[role] = subprocess.Popen(
                    [sys.executable, "-m", "driftline", role], env={**env, **(env_of or {}).get(role, {})},
                    stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if ready_s:
            wait_ready(settings, procs, ready_s)
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

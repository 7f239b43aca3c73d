"""One run of the README's demo command per session, shared by the tests that read what it leaves.

The demo leaves its topics on the session's broker (under its own prefix) and its
registry and artifacts under its ``DRIFTLINE_HOME``; the demo test checks its
summary, and readers of the retained log (a replay, a dashboard) use the same run
instead of starting one of their own.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO_ARGS = ["--events", "24000", "--drift", "12000", "--seed", "3"]


@dataclass(frozen=True)
class DemoRun:
    """The README's demo command, finished: its environment, its output and where it kept things."""

    env: dict[str, str]
    home: Path
    prefix: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> str:
        return self.stdout[self.stdout.index("driftline demo: summary"):]


@pytest.fixture(scope="session")
def demo_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^(bash scripts/demo\.sh)", readme, re.M).group(1)
    home = tmp_path_factory.mktemp("demo-home")
    prefix = f"t{uuid.uuid4().hex[:10]}."
    env = {**os.environ, "DRIFTLINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
           "DRIFTLINE_TOPIC_PREFIX": prefix, "DRIFTLINE_HOME": str(home)}
    # The first version must serve before the drift: at 1000 events/s that leaves the
    # workers 12 s for their first labels, training and the swap, on a busy machine too.
    done = subprocess.run(command.split() + DEMO_ARGS, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    yield DemoRun(env, home, prefix, done.returncode, done.stdout, done.stderr)

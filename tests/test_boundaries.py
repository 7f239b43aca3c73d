"""Import boundaries between the parts, read off the source (every import statement, at any depth).

- ``detectors/`` is pure: no Kafka client, database, network or file I/O;
- ``consumers/`` (the monitor) does not import the retrainer: reference
  profiles reach it through the registry's read side only;
- ``producers/`` (what a service imports) imports neither the monitor nor the
  retrainer, except the registry's and artifact store's read sides, to load a champion;
- ``driftline/ui`` (the dashboard) reads: no monitor, no service side, and of the
  retrainer only the registry's read side.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

KAFKA_DB_IO = ("kafka", "aiokafka", "faust", "sqlalchemy", "alembic", "psycopg", "socket", "http",
               "urllib", "requests", "asyncio", "subprocess", "shutil", "tempfile", "pathlib",
               "driftline.kafka_admin", "driftline.broker", "driftline.processes")
# The registry's read side, which the monitor may use to find a version's reference profile.
REGISTRY_READ_SIDE = ("driftline.retrainer.persistence.registry_reader",)
# What a service needs to load a champion: the registry's read side and the artifact reader.
CHAMPION_READ_SIDE = REGISTRY_READ_SIDE + ("driftline.retrainer.persistence.artifact_reader",)

RULES = {
    "detectors": KAFKA_DB_IO + ("driftline.consumers", "driftline.retrainer", "driftline.producers"),
    "consumers": ("driftline.retrainer", "driftline.producers"),
    "producers": ("driftline.consumers", "driftline.retrainer"),
    "driftline/ui": ("driftline.consumers", "driftline.retrainer", "driftline.producers"),
}
ALLOWED = {"consumers": REGISTRY_READ_SIDE, "producers": CHAMPION_READ_SIDE, "driftline/ui": REGISTRY_READ_SIDE}


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("folder", sorted(RULES))
def test_a_part_imports_only_what_it_may(folder):
    wrong = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, name in imports(path):
            if _under(name, RULES[folder]) and not _under(name, ALLOWED.get(folder, ())):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_detectors_open_no_files():
    calls = []
    for path in sorted((ROOT / "detectors").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
                calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not calls, calls


def test_the_rules_see_real_imports():
    # The check itself: a module that does import Kafka is caught.
    assert any(_under(name, KAFKA_DB_IO) for _, name in imports(ROOT / "consumers" / "worker" / "loop.py"))

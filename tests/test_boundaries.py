"""Import boundaries between the parts, read off the source (every import statement, at any depth).

- ``detectors/`` is pure: no Kafka client, database, network or file I/O;
- ``consumers/`` (the monitor) does not import the retrainer: reference
  profiles reach it through the registry's read side only;
- ``producers/`` (what a service imports) imports neither the monitor nor the
  retrainer, except the registry's and artifact store's read sides, to load a champion;
- ``driftline/ui`` (the dashboard) reads: no monitor, no service side, and of the
  retrainer only the registry's read side;
- the read side itself (what a service loads a champion with) reaches, through every
  import it makes at any depth, none of the retrainer's writing side: not the registry's
  writer, the artifact store, orchestration, training or evaluation.
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


# The retrainer's modules the champion read side may reach, import after import.
READ_SIDE_REACHES = frozenset({
    "driftline.retrainer",
    "driftline.retrainer.exceptions",
    "driftline.retrainer.persistence",
    "driftline.retrainer.persistence.registry_reader",
    "driftline.retrainer.persistence.artifact_reader",
    "driftline.retrainer.persistence.signing",
    "driftline.retrainer.persistence.records",
    "driftline.retrainer.persistence.schema",
    "driftline.retrainer.persistence.migrate",
    # an MLflow champion's artifact is unpacked into a pyfunc (read only)
    "driftline.retrainer.learners",
    "driftline.retrainer.learners.pyfunc",
})
_PACKAGE_DIRS = {"driftline.producers": "producers", "driftline.consumers": "consumers",
                 "driftline.detectors": "detectors", "driftline.retrainer": "retrainer",
                 "driftline": "driftline"}


def source_of(module: str) -> Path | None:
    """The file of a driftline module (package dirs as pyproject maps them), None if not ours."""
    for package, folder in _PACKAGE_DIRS.items():  # longest names first
        if module == package or module.startswith(package + "."):
            base = ROOT.joinpath(folder, *module[len(package):].lstrip(".").split(".")) \
                if module != package else ROOT / folder
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file() and candidate.parent != ROOT:
                    return candidate
            return None
    return None


def module_imports(path: Path) -> list[str]:
    """Modules ``path`` imports, with ``from package import module`` naming the module too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def reached(start: tuple[str, ...]) -> set[str]:
    """Every driftline module ``start`` imports, directly or through others, at any depth."""
    seen, todo = set(), list(start)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = source_of(module)
        if path is None:
            continue
        parts = module.split(".")
        for i in range(2, len(parts)):  # importing a.b.c runs a.b's __init__ first
            todo.append(".".join(parts[:i]))
        todo += [name for name in module_imports(path) if name.startswith("driftline")]
    return {m for m in seen if source_of(m) is not None}


def test_the_champion_read_side_reaches_none_of_the_write_side():
    reach = {m for m in reached(CHAMPION_READ_SIDE) if m.startswith("driftline.retrainer")}
    assert reach - READ_SIDE_REACHES == set()
    # What loading a champion in a service reaches, through ModelClient.
    service = {m for m in reached(("driftline.producers",)) if m.startswith("driftline.retrainer")}
    assert service - READ_SIDE_REACHES == set()


def test_the_closure_follows_imports_into_the_write_side():
    # The check itself: the artifact store (the write side) is seen to reach the registry's reader
    # through its own imports, and the worker to reach the store.
    assert "driftline.retrainer.persistence.artifact_reader" in reached(
        ("driftline.retrainer.persistence.artifacts",))
    assert "driftline.retrainer.persistence.artifacts" in reached(
        ("driftline.retrainer.orchestration.worker",))


def test_loading_a_champion_imports_none_of_the_write_side(tmp_path):
    # At run time too: a service's process, having read the registry and checked an artifact.
    import subprocess
    import sys

    script = f"""
import hashlib, pickle, sys
import driftline.producers
from driftline.retrainer.persistence.artifact_reader import ArtifactReader
from driftline.retrainer.persistence.registry_reader import RegistryReader
from driftline.retrainer.persistence.signing import seal
from pathlib import Path
path = Path({str(tmp_path)!r}) / "m.pkl"
path.write_bytes(seal(pickle.dumps({{"w": 1}}), model_id="m", fmt="pickle", key=b"k" * 32))
assert ArtifactReader(b"k" * 32).load(path.as_uri(), hashlib.sha256(path.read_bytes()).hexdigest()) == {{"w": 1}}
with RegistryReader("sqlite:///{tmp_path / 'r.db'}") as reader:
    reader.champion("m")
print(" ".join(sorted(m for m in sys.modules if m.startswith("driftline.retrainer"))))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "driftline.retrainer.persistence.artifact_reader" in loaded
    assert loaded - READ_SIDE_REACHES == set()

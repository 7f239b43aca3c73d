"""Nothing read from Kafka is unpickled: every call that can run code from bytes is where it may be.

Loading a pickle runs code. The retrainer and the producers read Kafka
(retrain requests, labeled examples, model-versions) through JSON decoders
only; the one place that unpickles a model does so after its sha256 and
signature are checked, and the trainer's child process hands back its model
over a pipe the worker made itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Names whose call turns bytes into running code.
LOADERS = {"loads", "load", "Unpickler", "eval", "exec"}
MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "joblib", "marshal", "shelve", "skops"}
ALLOWED = {
    # after the sha256 and the signature hold (driftline.retrainer.persistence.signing)
    "retrainer/persistence/artifact_reader.py",
    # the trained model from the trainer's child process, over the worker's own pipe
    "retrainer/orchestration/training.py",
    # the fitted model a user names on the command line (driftline models register --from)
    "retrainer/learners/external.py",
}


def _calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    imported = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names if alias.name.split(".")[0] in MODULES}
    from_imported = {alias.asname or alias.name for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in MODULES
                     for alias in node.names}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in imported \
                and f.attr in LOADERS:
            found.append(f"{f.value.id}.{f.attr}:{node.lineno}")
        elif isinstance(f, ast.Name) and (f.id in from_imported or f.id in {"eval", "exec"}):
            found.append(f"{f.id}:{node.lineno}")
    return found


def test_only_the_checked_places_turn_bytes_into_code() -> None:
    offenders = {}
    for folder in ("retrainer", "producers", "driftline"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            calls = _calls(path)
            if calls and rel not in ALLOWED:
                offenders[rel] = calls
    assert offenders == {}


def test_the_scan_finds_an_unpickling_call(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import pickle as p\nfrom joblib import load\np.loads(b'')\nload('x')\n")
    assert _calls(probe) == ["p.loads:3", "load:4"]


def test_the_allowed_places_are_still_where_the_loading_is() -> None:
    for rel in ALLOWED:
        path = ROOT / rel
        assert path.exists() and _calls(path), rel

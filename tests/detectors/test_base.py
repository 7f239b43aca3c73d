"""Detection records, and the purity of the package: no Kafka, no I/O, no clock."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import driftline.detectors as detectors
from driftline.detectors import Detection

PACKAGE = pathlib.Path(detectors.__file__).parent
# Modules the detectors may import. Anything that reads the clock, the
# environment, files or the network is missing on purpose.
# hashlib and json compute and do no I/O: a reference's fingerprint, a calibration as plain data.
ALLOWED = {
    "__future__", "abc", "collections", "copy", "dataclasses", "functools", "hashlib", "inspect",
    "json", "math", "numbers", "statistics", "typing", "numpy", "river", "driftline",
}


def test_detection_is_frozen_and_checked():
    d = Detection("performance", "accuracy", None, 0.6, 0.8, 3, "warning", "accuracy fell")
    assert d.key == ("performance", "accuracy", None)
    with pytest.raises(AttributeError):
        d.value = 1.0
    with pytest.raises(ValueError, match="severity"):
        Detection("performance", "accuracy", None, 0.6, 0.8, 3, "page", "")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_pure_modules(path):
    tree = ast.parse(path.read_text("utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    top = {n.split(".")[0] for n in names}
    assert top <= ALLOWED, f"{path.relative_to(PACKAGE)} imports {sorted(top - ALLOWED)}"
    internal = {n for n in names if n.startswith("driftline.")}
    assert all(n.startswith("driftline.detectors") or n == "driftline.contract" for n in internal)


def test_importing_the_package_loads_no_kafka_client():
    # river itself imports sqlalchemy when it is installed, so that is not checked.
    code = ("import sys, driftline.detectors; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'kafka', 'aiokafka', 'faust', 'mode', 'confluent_kafka'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

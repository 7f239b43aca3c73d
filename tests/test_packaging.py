"""A wheel installs the card's folders under one namespace, the same way the editable install does."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import driftline.detectors

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["driftline", "driftline.producers", "driftline.consumers", "driftline.detectors",
           "driftline.retrainer"]


def test_editable_install_maps_the_folders():
    assert Path(driftline.detectors.__file__).parent == ROOT / "detectors"


def test_wheel_holds_one_namespace_and_imports_the_same(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                    str(ROOT)], check=True, timeout=300)
    wheel = next(tmp_path.glob("driftline-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"driftline"}  # no bare `detectors`, `consumers`... to collide with PyPI
    for required in ("driftline/detectors/features/ks.py", "driftline/consumers/app.py",
                     "driftline/schemas/prediction.json", "driftline/kafka/pom.xml", "driftline/ui/page.html",
                     "driftline/retrainer/persistence/migrations/env.py",
                     "driftline/retrainer/persistence/migrations/versions/r0001_versions.py"):
        assert required in names
    # Every package on disk, under the name it is imported by.
    folders = {"driftline": "driftline", "producers": "driftline/producers", "consumers": "driftline/consumers",
               "detectors": "driftline/detectors", "retrainer": "driftline/retrainer"}
    on_disk = {f"{folders[init.relative_to(ROOT).parts[0]]}/{'/'.join(init.relative_to(ROOT).parts[1:])}"
               for top in folders for init in (ROOT / top).rglob("__init__.py")}
    assert on_disk - set(names) == set()
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, timeout=300)
    # Opening a registry runs the migrations, which must have come with the wheel.
    probe = ("import importlib, json; from driftline.contract import schema; "
             "from driftline.retrainer.persistence.registry import Registry; Registry('sqlite://').close(); "
             f"mods = {MODULES!r}; "
             "print(json.dumps([importlib.import_module(m).__file__ for m in mods] "
             "+ [schema('alert')['title']]))")
    # From another folder: the checkout itself must not be on the path.
    out = subprocess.run([sys.executable, "-c", probe], env={"PYTHONPATH": str(target)},
                         cwd=tmp_path, capture_output=True, text=True, check=True,
                         timeout=120).stdout
    files = __import__("json").loads(out)
    assert all(f.startswith(str(target)) for f in files[:-1]), files
    assert files[-1] == "alert"

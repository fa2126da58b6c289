"""A wheel, not only the editable checkout: `pip install .` must ship every subpackage (packages.find), so that the
CLI runs its analyses from the installed package alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package built as a wheel and installed into a folder of its own (its dependencies are this venv's)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a copy of what the wheel is built from: setuptools writes build/ beside it
    shutil.copytree(ROOT / "analytics", source / "analytics", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(source)],
                   check=True, capture_output=True)
    (wheel,) = (work / "dist").glob("keyfunnel-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(work / "site"),
                    str(wheel)], check=True, capture_output=True)
    return wheel, work


def _run(work, *args: str) -> subprocess.CompletedProcess:
    # from a folder outside the checkout, with the installed copy first on the path
    env = {**os.environ, "PYTHONPATH": str(work / "site")}
    return subprocess.run([sys.executable, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)


def test_the_wheel_holds_every_module(installed):
    wheel, _ = installed
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("analytics/") and n.endswith(".py")}
    checkout = {str(p.relative_to(ROOT)) for p in (ROOT / "analytics").rglob("*.py")}
    assert shipped == checkout


def test_the_installed_package_imports_and_runs_an_analysis(installed):
    _, work = installed
    every = _run(work, "-c", "import importlib, pkgutil, analytics; "
                             "[importlib.import_module(m.name) for m in pkgutil.walk_packages(analytics.__path__, "
                             "'analytics.') if not m.name.endswith('__main__')]; print(analytics.__file__)")
    assert every.returncode == 0, every.stderr
    assert every.stdout.strip().startswith(str(work / "site"))  # not the checkout's copy
    db, out = work / "kf.duckdb", work / "sample"
    for args in (("sample", "--deals", "300", "--seed", "3", "--out", str(out)),
                 ("import", str(out / "deals.csv"), "--history", str(out / "stage_history.csv"), "--json")):
        done = _run(work, "-m", "analytics.cli", "--db", str(db), *args)
        assert done.returncode == 0, done.stderr
    funnel = _run(work, "-m", "analytics.cli", "--db", str(db), "funnel", "--json")
    assert funnel.returncode == 0, funnel.stderr
    truth = json.loads((out / "truth.json").read_text())
    assert json.loads(funnel.stdout)["deals"] == truth["counts"]["deals"] == 300

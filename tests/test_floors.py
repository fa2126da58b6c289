"""CI proves the floors pyproject.toml names: .ci/floors.txt pins each direct dependency at its lower bound, and
.ci/run's second test job installs exactly those."""

import re
import tomllib

from .conftest import ROOT


def _same(pinned: str, floor: str) -> bool:
    """1.4.0 pins the floor 1.4; 2.2.2 pins 2.2.2; 2.2.3 does not pin 2.2.2."""
    a, b = pinned.split("."), floor.split(".")
    return a[:len(b)] == b and all(x == "0" for x in a[len(b):])


def test_ci_floors_are_pyprojects_lower_bounds():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    floors = {}
    for spec in (*project["dependencies"], *project["optional-dependencies"]["test"]):
        m = re.fullmatch(r"([\w.-]+)>=([\d.]+)", spec.strip())
        assert m, f"{spec}: every dependency names its floor, as NAME>=VERSION"
        floors[m[1].lower()] = m[2]
    lines = [line for line in (ROOT / ".ci" / "floors.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    pinned = {name.lower(): version for name, version in (line.split("==") for line in lines)}
    assert pinned.keys() == floors.keys()
    assert [name for name, floor in floors.items() if not _same(pinned[name], floor)] == []


def test_ci_runs_the_floors():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "-c .ci/floors.txt" in ci and "floors" in ci

"""The hashed lock files: the image and CI install the same pinned, hashed versions of what pyproject asks."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "requirements" / "runtime.lock"
DEV = ROOT / "requirements" / "dev.lock"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DEVSTACK = tomllib.loads((ROOT / "devstack" / "pyproject.toml").read_text())["project"]


def pins(lock: Path) -> dict[str, str]:
    """Package -> pinned version; fails on any requirement without an exact pin and a hash."""
    text = lock.read_text()
    entries = re.split(r"\n(?=\S)", "\n".join(line for line in text.splitlines() if not line.startswith("#")))
    found = {}
    for entry in filter(None, (e.strip() for e in entries)):
        match = re.match(r"([A-Za-z0-9_.\[\],-]+)==([^\s;\\]+)", entry)
        assert match, f"{lock.name}: not an exact pin: {entry.splitlines()[0]}"
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), f"{lock.name}: {match[1]} has no hash"
        found[canonicalize_name(match[1].split("[")[0])] = match[2]
    return found


def _requirements(*groups: list[str]) -> list[Requirement]:
    """Parsed requirements of some dependency lists."""
    return [Requirement(spec) for group in groups for spec in group]


@pytest.mark.parametrize(
    ("lock", "groups"),
    [
        (RUNTIME, (PROJECT["dependencies"], PROJECT["optional-dependencies"]["rocksdb"])),
        (DEV, (PROJECT["dependencies"], PROJECT["optional-dependencies"]["dev"], DEVSTACK["dependencies"])),
    ],
)
def test_each_lock_pins_what_pyproject_asks_for(lock, groups):
    locked = pins(lock)
    for requirement in _requirements(*groups):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{lock.name} lacks {name}: run scripts/lock.sh"
        pinned = locked[name]
        assert requirement.specifier.contains(pinned, prereleases=True), (
            f"{lock.name} pins {name}=={pinned}, pyproject asks {requirement.specifier}: run scripts/lock.sh"
        )


def test_the_image_carries_no_dev_or_test_tools():
    runtime = pins(RUNTIME)
    for requirement in _requirements(DEVSTACK["dependencies"], ["pytest", "playwright", "mypy", "ruff"]):
        assert canonicalize_name(requirement.name) not in runtime


def test_ci_and_the_image_install_the_same_versions():
    runtime, dev = pins(RUNTIME), pins(DEV)
    differ = {name: (version, dev.get(name)) for name, version in runtime.items() if dev.get(name) != version}
    assert not differ, f"runtime.lock and dev.lock disagree: {differ}"


def test_the_image_and_ci_install_from_the_locks_with_hashes():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY requirements/runtime.lock ./" in dockerfile
    assert "pip install --require-hashes --no-deps -r runtime.lock" in dockerfile
    assert "pyproject.toml ./\nRUN" not in dockerfile
    assert "requirements" not in (ROOT / ".dockerignore").read_text().split()
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    for job in ci["jobs"].values():
        runs = [step.get("run", "") for step in job["steps"]]
        installs = [
            i for i, run in enumerate(runs) if "--require-hashes --no-deps -r requirements/dev.lock" in run
        ]
        assert installs, "each CI job installs the locked dependencies"
        first_use = min(
            i for i, run in enumerate(runs) if re.search(r"make |\.venv/bin/(?!python -m pip)", run)
        )
        assert installs[0] < first_use

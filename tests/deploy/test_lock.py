"""The dependency locks: every requirement of pyproject.toml is pinned with hashes, the three
locks agree on versions, torch stays out (its CPU build is installed on its own), and make, CI
and the Dockerfile install from them. A failure here means: run `make lock`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# Each lock and the pyproject groups it must cover.
LOCKS = {
    "requirements.lock": (),
    "requirements-local.lock": ("local",),
    "requirements-dev.lock": ("local", "dev"),
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)
UNPINNED_IN_LOCK = {"torch"}  # installed first from the CPU index, see the Makefile


def requirements(extras: tuple[str, ...]) -> set[str]:
    """Distribution names pyproject asks for with these extras (self-references expanded)."""
    names: set[str] = set()
    pending = [*PYPROJECT["dependencies"]]
    seen: set[str] = set()
    for extra in extras:
        pending += PYPROJECT["optional-dependencies"][extra]
    while pending:
        requirement = Requirement(pending.pop())
        name = canonicalize_name(requirement.name)
        if name == canonicalize_name(PYPROJECT["name"]):
            for extra in requirement.extras - seen:
                seen.add(extra)
                pending += PYPROJECT["optional-dependencies"][extra]
            continue
        names.add(name)
    return names - UNPINNED_IN_LOCK


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text(encoding="utf-8")
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


@pytest.mark.parametrize(("lock", "extras"), LOCKS.items())
def test_every_pyproject_dependency_is_locked(lock: str, extras: tuple[str, ...]) -> None:
    missing = requirements(extras) - set(pins(lock))
    assert not missing, f"{lock} lacks {sorted(missing)}: run `make lock`"


@pytest.mark.parametrize(("lock", "extras"), LOCKS.items())
def test_lock_versions_satisfy_pyproject(lock: str, extras: tuple[str, ...]) -> None:
    locked = pins(lock)
    groups = [PYPROJECT["dependencies"], *(PYPROJECT["optional-dependencies"][e] for e in extras)]
    for line in (line for group in groups for line in group):
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name in locked:
            assert requirement.specifier.contains(locked[name], prereleases=True), (lock, line)


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_has_a_hash_and_no_cuda_build_sneaks_in(lock: str) -> None:
    text = (ROOT / lock).read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert entries
    for entry in entries:
        if entry.strip():
            assert "--hash=sha256:" in entry, entry.splitlines()[0]
    names = set(pins(lock))
    assert "torch" not in names
    assert not [name for name in names if name.startswith(("nvidia-", "triton"))]


def test_the_locks_agree_on_every_shared_version() -> None:
    runtime, local, dev = (pins(lock) for lock in LOCKS)
    for name, version in runtime.items():
        assert local[name] == version == dev[name], name


def test_make_ci_and_the_dockerfile_install_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"install --quiet --require-hashes --no-deps -r \$\(DEV_LOCK\)", makefile)
    assert re.search(r"^\$\(VENV\)/\.installed: .*\$\(DEV_LOCK\)", makefile, re.MULTILINE)
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "--require-hashes \\\n            -r requirements-local.lock" in dockerfile
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    runs = [step.get("run", "") for job in ci["jobs"].values() for step in job.get("steps", [])]
    assert not [run for run in runs if "pip install -e" in run], "CI never resolves afresh"
    installs = [run for run in runs if run.startswith("make install-locked")]
    assert len(installs) == 3, "lint, test and chart install the lock"

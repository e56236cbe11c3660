"""A configuration repository in the real values-file shape, pushed to a bare remote."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

VALUES = """\
# comment lines anywhere, which must survive
api:
  image:
    # The API image.
    repository: ghcr.io/ragfleet/ragfleet-api
    tag: "0.1.0"  # bumped by CI
  replicas:   # odd spacing a round-trip dump would normalise
    -   first
# between the blocks
worker:
  image:
    repository: ghcr.io/ragfleet/ragfleet-worker
    tag: "0.1.0"
    pullPolicy: 'IfNotPresent'
"""
VALUES_DIR = "deploy/helm/ragfleet"


def git(cwd: Path, *args: str) -> str:
    """Run git as a test user (the code under test has no identity configured)."""
    done = subprocess.run(
        ["git", "-c", "user.name=tester", "-c", "user.email=tester@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@dataclass(frozen=True)
class Remote:
    """The bare remote; tests reach the shared helpers through it (conftest is not importable)."""

    bare: Path
    values: str = VALUES
    git = staticmethod(git)

    def clone(self, name: str) -> Path:
        target = self.bare.parent / name
        git(self.bare.parent, "clone", "--quiet", str(self.bare), str(target))
        return target

    def head(self) -> str:
        return git(self.bare, "rev-parse", "main")

    def show(self, path: str) -> str:
        return git(self.bare, "show", f"main:{path}") + "\n"


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No global or system git config: no identity, so the bot identity must be used."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GITHUB_SHA", raising=False)


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    bare = tmp_path / "config.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(seed))
    (seed / VALUES_DIR).mkdir(parents=True)
    for env in ("staging", "prod"):
        (seed / VALUES_DIR / f"values-{env}.yaml").write_text(VALUES)
    (seed / "README.md").write_text("config\n")
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "seed")
    git(seed, "push", "--quiet", str(bare), "main")
    return Remote(bare)

"""A configuration repository in the real values-file shape, pushed to a bare remote."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

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
    """The bare remote of a configuration repository, and reads of what was pushed to it."""

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

"""Fixtures: an isolated git environment and a seeded configuration remote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.utils.gitops_repo import VALUES, VALUES_DIR, Remote, git


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

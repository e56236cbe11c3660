"""``ragfleet gitops`` on the command line: exit codes, messages, GITHUB_SHA."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import typer
from typer.testing import CliRunner

from ragfleet.cli.deploy_commands import register
from ragfleet.gitops.cli import gitops_app

if TYPE_CHECKING:
    from tests.utils.gitops_repo import Remote

runner = CliRunner()


def test_bump_commits_pushes_and_reads_the_source_sha_from_github_sha(
    remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_SHA", "feedface" * 5)
    arguments = ["bump", "--repo", str(remote.clone("work")), "--env", "staging"]

    first = runner.invoke(gitops_app, [*arguments, "--tag", "sha-feedfac", "--push"])
    again = runner.invoke(gitops_app, [*arguments, "--tag", "sha-feedfac", "--push"])

    assert first.exit_code == 0, first.output
    assert "staging: api, worker -> sha-feedfac" in first.stdout
    message = remote.git(remote.bare, "log", "-1", "--format=%B", "main")
    assert f"Source-Commit: {'feedface' * 5}" in message
    assert again.exit_code == 0
    assert "nothing to commit" in again.stdout


def test_a_refusal_exits_non_zero_with_the_reason_on_stderr(remote: Remote) -> None:
    result = runner.invoke(
        gitops_app,
        ["bump", "--repo", str(remote.clone("work")), "--env", "qa", "--tag", "v1.0.0"],
    )

    assert result.exit_code == 1
    assert "error: unknown environment 'qa'" in result.stderr


def test_current_prints_the_tag_an_environment_runs(remote: Remote) -> None:
    clone = str(remote.clone("work"))
    runner.invoke(gitops_app, ["bump", "--repo", clone, "--env", "prod", "--tag", "v2.0.0"])

    result = runner.invoke(gitops_app, ["current", "--repo", clone, "--env", "prod"])

    assert result.exit_code == 0, result.output
    assert result.stdout == "v2.0.0\n"


def test_gitops_is_registered_on_the_main_cli() -> None:
    app = typer.Typer()
    register(app)

    result = runner.invoke(app, ["gitops", "bump", "--help"])

    assert result.exit_code == 0, result.output
    assert "--values-path" in result.stdout

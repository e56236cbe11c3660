"""The GitHub Actions workflows: actionlint clean, and the hygiene rules read from the YAML."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.utils.tools import dev_tool

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
VERSION_COMMENT = re.compile(r"^\s+# v\d+(\.\d+)*$")
GRANT = re.compile(r"^\s+[a-z-]+: (read|write)(?P<rest>.*)$")


def load(path: Path) -> dict[Any, Any]:
    # yaml (YAML 1.1) reads the bare key `on` as True.
    workflow: dict[Any, Any] = yaml.safe_load(path.read_text())
    return workflow


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_the_three_workflows_exist() -> None:
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "release.yml", "promote.yml"}


def test_actionlint_passes() -> None:
    done = subprocess.run(
        [dev_tool("actionlint"), *map(str, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_top_level_permissions_are_empty_and_runs_are_grouped(path: Path) -> None:
    workflow = load(path)

    assert workflow["permissions"] == {}
    assert "group" in workflow["concurrency"]
    assert "cancel-in-progress" in workflow["concurrency"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_job_declares_permissions_and_a_timeout(path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        assert isinstance(job.get("permissions"), dict), name
        assert isinstance(job.get("timeout-minutes"), int), name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_grant_says_why(path: Path) -> None:
    grants = [match for line in path.read_text().splitlines() if (match := GRANT.match(line))]

    assert grants
    for grant in grants:
        assert grant["rest"].startswith(" # "), grant.group(0)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(path: Path) -> None:
    lines = [match for line in path.read_text().splitlines() if (match := USES.match(line))]

    assert lines
    for match in lines:
        assert PINNED.fullmatch(match["ref"]), match["ref"]
        assert VERSION_COMMENT.match(match["rest"]), match.group(0)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_checkout_never_persists_credentials(path: Path) -> None:
    checkouts = [s for s in steps(load(path)) if s.get("uses", "").startswith("actions/checkout@")]

    assert checkouts
    assert all(step["with"]["persist-credentials"] is False for step in checkouts)


def test_ci_has_one_aggregate_job_that_needs_every_other_job() -> None:
    jobs = load(ROOT / ".github" / "workflows" / "ci.yml")["jobs"]

    assert set(jobs["all-green"]["needs"]) == set(jobs) - {"all-green"}
    assert jobs["all-green"]["if"] == "always()"


def test_gitops_bumps_are_serialised_per_environment() -> None:
    release = load(ROOT / ".github" / "workflows" / "release.yml")["jobs"]
    promote = load(ROOT / ".github" / "workflows" / "promote.yml")["jobs"]

    assert release["bump-staging"]["concurrency"] == {
        "group": "gitops-staging",
        "cancel-in-progress": False,
    }
    assert promote["promote"]["concurrency"]["group"] == "gitops-prod"
    assert promote["promote"]["needs"] == "gate"

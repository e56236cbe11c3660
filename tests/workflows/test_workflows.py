"""The GitHub Actions workflows: actionlint clean, and the hygiene rules read from the YAML."""

from __future__ import annotations

import json
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
        # A job calling a reusable workflow takes no timeout; the called jobs carry theirs.
        assert "uses" in job or isinstance(job.get("timeout-minutes"), int), name


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
        if match["ref"].startswith("./.github/workflows/"):
            continue  # a workflow of this repository, at the same commit
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


def test_release_runs_only_after_ci_succeeded_on_main_or_a_tag() -> None:
    release = load(ROOT / ".github" / "workflows" / "release.yml")
    ci = load(ROOT / ".github" / "workflows" / "ci.yml")
    (trigger,) = release[True]
    assert trigger == "workflow_run"
    run = release[True]["workflow_run"]
    assert run["workflows"] == [ci["name"]]
    assert run["types"] == ["completed"]
    assert set(run["branches"]) == {"main", "v*.*.*"}
    assert ci[True]["push"]["tags"] == ["v*.*.*"], "CI must run on the tags Release builds"
    condition = release["jobs"]["image"]["if"]
    assert "github.event.workflow_run.conclusion == 'success'" in condition
    assert "github.event.workflow_run.event == 'push'" in condition
    assert "!startsWith(github.event.workflow_run.head_commit.message, 'gitops(')" in condition
    for job in ("image", "bump-staging"):
        checkout = next(
            s for s in release["jobs"][job]["steps"] if s.get("uses", "").startswith("actions/ch")
        )
        assert checkout["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"


def test_version_tags_are_promoted_by_release_calling_promote() -> None:
    release = load(ROOT / ".github" / "workflows" / "release.yml")["jobs"]["promote"]
    promote = load(ROOT / ".github" / "workflows" / "promote.yml")
    assert release["uses"] == "./.github/workflows/promote.yml"
    assert release["needs"] == "bump-staging"
    assert release["if"] == "startsWith(github.event.workflow_run.head_branch, 'v')"
    assert release["with"]["tag"] == "${{ github.event.workflow_run.head_branch }}"
    assert set(promote[True]) == {"workflow_dispatch", "workflow_call"}
    assert "GITOPS_TOKEN" in promote[True]["workflow_call"]["secrets"]


def test_promote_pins_prods_chart_to_the_release_it_promotes() -> None:
    promote = load(ROOT / ".github" / "workflows" / "promote.yml")["jobs"]
    names = [step.get("name", "") for step in promote["promote"]["steps"]]
    pin = names.index("Pin prod's chart to the promoted release")
    assert pin < names.index("Bump prod to the staging tag")
    step = promote["promote"]["steps"][pin]
    assert step["env"]["REF"] == "${{ needs.gate.outputs.ref }}"
    assert "# prod-chart-revision" in step["run"]
    assert promote["gate"]["outputs"]["ref"] == "${{ steps.ref.outputs.ref }}"
    app = (ROOT / "deploy" / "argocd" / "apps" / "ragfleet-prod.yaml").read_text()
    assert "# prod-chart-revision" in app


def test_the_chart_job_validates_against_a_pinned_crd_catalog() -> None:
    ci = load(ROOT / ".github" / "workflows" / "ci.yml")
    assert ci["env"]["CI"] == "true"
    chart = ci["jobs"]["chart"]["steps"]
    catalog = next(
        s for s in chart if s.get("with", {}).get("repository") == "datreeio/CRDs-catalog"
    )
    assert re.fullmatch(r"[0-9a-f]{40}", catalog["with"]["ref"])
    run = next(s for s in chart if s.get("run", "").startswith("pytest tests/deploy"))
    assert run["env"]["RAGFLEET_CRD_SCHEMAS"].endswith(catalog["with"]["path"])


def test_dependencies_are_kept_current_by_renovate_and_the_lock_refresh() -> None:
    renovate = json.loads((ROOT / ".github" / "renovate.json").read_text())
    managers = set(renovate["enabledManagers"])
    assert {"github-actions", "dockerfile", "argocd", "helm-values"} <= managers
    # Renovate's regexes are JavaScript: (?<name>...) is Python's (?P<name>...).
    chart_pins = renovate["customManagers"][0]["matchStrings"][0].replace("(?<", "(?P<")
    for path in (ROOT / "deploy" / "argocd" / "apps").glob("*.yaml"):
        listed = len(re.findall(r"chartVersion:", path.read_text()))
        assert len(re.findall(chart_pins, path.read_text())) == listed, path.name
    lock = load(ROOT / ".github" / "workflows" / "lock.yml")
    assert "schedule" in lock[True]
    assert any("make lock" in step.get("run", "") for step in steps(lock))

"""`ragfleet render`: the command registered by ragfleet.cli.deploy_commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from ragfleet.cli.deploy_commands import register
from ragfleet.deploy.environments import EnvironmentName
from ragfleet.deploy.render import find_chart, merge_values, render_environment
from tests.deploy.deploy_helpers import CHART_DIR, REPO_ROOT


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:
        """A second command, so Typer keeps ``render`` as a named sub-command."""

    return app


def test_render_prints_the_environment_as_yaml(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["render", "--env", "prod", "--chart", str(CHART_DIR)])
    assert result.exit_code == 0, result.output
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert len(documents) == len(render_environment(EnvironmentName.PROD, CHART_DIR))
    assert "# Source: ragfleet/templates/api/deployment.yaml" in result.stdout
    (config,) = (
        d for d in documents if d["kind"] == "ConfigMap" and "config" in d["metadata"]["name"]
    )
    assert config["data"]["RAGFLEET_ENVIRONMENT"] == "production"


def test_render_writes_one_file_per_object(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "staging"
    result = CliRunner().invoke(
        app, ["render", "--env", "staging", "--chart", str(CHART_DIR), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.yaml"))
    assert len(files) == len(render_environment(EnvironmentName.STAGING, CHART_DIR))
    for path in files:
        (document,) = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
        assert path.name.endswith(
            f"-{document['kind'].lower()}-{document['metadata']['name']}.yaml"
        )


def test_render_rejects_an_unknown_environment(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["render", "--env", "qa"])
    assert result.exit_code != 0


def test_find_chart_walks_up_from_a_subdirectory() -> None:
    assert find_chart(REPO_ROOT / "src" / "ragfleet") == CHART_DIR
    with pytest.raises(FileNotFoundError):
        find_chart(Path("/"))


def test_merge_values_is_deep_and_later_wins() -> None:
    base: dict[str, Any] = {"api": {"image": {"repository": "r", "tag": ""}, "replicas": 2}}
    merged = merge_values(base, {"api": {"image": {"tag": "1.0.0"}}})
    assert merged == {"api": {"image": {"repository": "r", "tag": "1.0.0"}, "replicas": 2}}
    assert base["api"]["image"]["tag"] == ""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragfleet import services as services_module
from ragfleet.cli.main import app
from ragfleet.errors import DependencyError
from ragfleet.settings import Settings
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD

runner = CliRunner()


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAGFLEET_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "docs"
    (folder / "nested").mkdir(parents=True)
    (folder / "guide.md").write_text(GUIDE_MD)
    (folder / "nested" / "astro.md").write_text(ASTRONOMY_MD)
    (folder / "ignored.bin").write_bytes(b"\x00\x01")
    return folder


def test_ingest_search_ask(corpus: Path) -> None:
    result = runner.invoke(app, ["ingest", str(corpus)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("indexed") == 2

    result = runner.invoke(app, ["search", "largest planet", "--json", "-k", "1"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["data"]
    assert len(hits) == 1 and hits[0]["title"] == "Astronomy"

    result = runner.invoke(app, ["search", "planet", "--filter", "source=nope", "--json"])
    assert json.loads(result.stdout)["data"] == []

    result = runner.invoke(app, ["ask", "Which planet has rings?"])
    assert result.exit_code == 0, result.output
    assert "Saturn" in result.stdout and "[1]" in result.stdout
    assert "extractive answer (not_configured)" in result.stderr


def test_ingest_reports_bad_files_and_exits_non_zero(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # the message on one line (narrower tables fold it)
    bad = corpus / "empty.txt"
    bad.write_text("   ")
    result = runner.invoke(app, ["ingest", str(corpus / "guide.md"), str(bad)])
    assert result.exit_code == 1
    assert "contains no text" in result.stdout
    assert "1 of 2 file(s) failed" in result.stderr


def test_ingest_glob(corpus: Path) -> None:
    result = runner.invoke(app, ["ingest", str(corpus / "**" / "*.md")])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("indexed") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "/no/such/path"], "no such file or folder"),
        (["search", "x", "--filter", "novalue"], "--filter takes key=value"),
        (["search", "x", "--mode", "fuzzy"], "fuzzy"),
        (["ingest", ".", "--no-follow"], "--no-follow needs workers"),
        (["worker"], "a worker needs a Redis broker"),
    ],
)
def test_usage_errors_exit_2(corpus: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_worker_probe_fails_without_a_heartbeat(corpus: Path) -> None:
    result = runner.invoke(app, ["worker-probe"])
    assert result.exit_code == 1
    assert "no heartbeat" in result.stderr


def test_worker_reports_startup_errors(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFLEET_REDIS__URL", "redis://localhost:1/0")
    monkeypatch.setenv("RAGFLEET_QDRANT__URL", "http://localhost:1")

    def unreachable(settings: Settings) -> None:
        raise DependencyError("database", "connection refused")

    monkeypatch.setattr(services_module, "build_task_context", unreachable)
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 1
    assert "error: database: connection refused" in result.stderr


def test_search_rejects_out_of_range_top_k(corpus: Path) -> None:
    result = runner.invoke(app, ["search", "x", "-k", "5000"])
    assert result.exit_code == 1
    assert "top_k must be between" in result.stderr


def test_help_explains_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    for command in ("serve", "ingest", "search", "ask", "eval", "config", "render", "gitops"):
        assert command in result.stdout

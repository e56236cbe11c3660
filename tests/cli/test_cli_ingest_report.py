"""What ``ragfleet ingest`` reports about each file, and ``-k`` bounds."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragfleet.cli.main import app
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD

runner = CliRunner()


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAGFLEET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "80")
    docs = tmp_path / "docs"
    deep = docs / "a-rather-long-folder-name" / "and-another-long-folder-name-below-it"
    deep.mkdir(parents=True)
    (docs / "guide.md").write_text(GUIDE_MD)
    (deep / "astronomy-notes-with-a-long-name.md").write_text(ASTRONOMY_MD)
    (docs / "logo.png").write_bytes(b"\x89PNG")
    return docs


def test_skipped_files_are_listed_with_the_reason(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    result = runner.invoke(app, ["ingest", str(folder)])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "logo.png" in line)
    assert "skipped: unsupported file type '.png'" in row
    assert result.stdout.count("indexed") == 2


def test_long_paths_are_folded_not_cut(folder: Path) -> None:
    result = runner.invoke(app, ["ingest", str(folder)])  # COLUMNS=80
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert "long-name.md" in result.stdout.replace(" ", "").replace("│", "").replace("\n", "")


def test_a_folder_with_only_unsupported_files_exits_2(tmp_path: Path) -> None:
    (tmp_path / "only.png").write_bytes(b"\x89PNG")
    result = runner.invoke(app, ["ingest", str(tmp_path)])
    assert result.exit_code == 2
    assert "skipped" in result.stdout and "no supported files found" in result.stderr


def test_reingesting_an_unchanged_file_says_so(folder: Path) -> None:
    assert runner.invoke(app, ["ingest", str(folder / "guide.md")]).exit_code == 0
    result = runner.invoke(app, ["ingest", str(folder / "guide.md")])
    assert result.exit_code == 0, result.output
    assert (
        "unchanged (already indexed)" in result.stdout
        and "indexed" not in result.stdout.replace("already indexed", "")
    )


@pytest.mark.parametrize("command", [["search", "planet"], ["ask", "Which planet?"]])
def test_top_k_below_one_is_refused(folder: Path, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "-k", "0"])
    assert result.exit_code == 2
    assert "Invalid value for '--top-k'" in result.output

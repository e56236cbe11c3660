"""A registry and store that disagree stop the process with one message; doctor repairs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from ragfleet.api.app import create_app
from ragfleet.cli.main import app as cli
from ragfleet.embedding import Embedder
from ragfleet.errors import IntegrityError
from ragfleet.retrieval.store import document_filter
from ragfleet.services import build_services
from tests.utils.config import make_settings
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD
from tests.utils.jobs import ingest_text


def indexed(data: Path, embedder: Embedder) -> dict[str, str]:
    """Two documents indexed in ``data``; returns their ids by source."""
    services = build_services(make_settings(data), embedder)
    try:
        with TestClient(create_app(services=services)) as client:
            return {
                source: ingest_text(client, text, source=source)["document_id"]
                for source, text in (("guide", GUIDE_MD), ("astro", ASTRONOMY_MD))
            }
    finally:
        services.close()


def run(data: Path, *args: str) -> Result:
    env = {"RAGFLEET_DATA_DIR": str(data), "COLUMNS": "500"}  # no wrapping inside paths
    return CliRunner().invoke(cli, list(args), env=env)


def one_line(result: Result) -> str:
    return " ".join(result.stderr.split())


def lose_store(data: Path) -> None:
    shutil.rmtree(data / "qdrant")


def lose_registry(data: Path) -> None:
    (data / "registry.db").unlink()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lose_store, "2 indexed document(s) in the registry but no points"),
        (lose_registry, "point(s) in the vector store at"),
    ],
)
def test_a_lost_side_stops_the_start_and_doctor_repairs_it(
    tmp_path: Path, embedder: Embedder, damage: Callable[[Path], None], message: str
) -> None:
    indexed(tmp_path, embedder)
    damage(tmp_path)

    with pytest.raises(IntegrityError, match="doctor --repair"):
        build_services(make_settings(tmp_path), embedder)
    search = run(tmp_path, "search", "planet")
    report = run(tmp_path, "doctor")
    repaired = run(tmp_path, "doctor", "--repair")

    assert search.exit_code == 1 and message in one_line(search)
    assert "Traceback" not in search.output
    assert report.exit_code == 1 and "doctor --repair" in report.stderr
    assert repaired.exit_code == 0, repaired.output
    services = build_services(make_settings(tmp_path), embedder)  # starts again
    try:
        assert services.registry.indexed_counts().get("default", 0) == 0
        assert services.store.count("default") == 0
    finally:
        services.close()


def test_doctor_finds_single_documents_without_points(tmp_path: Path, embedder: Embedder) -> None:
    ids = indexed(tmp_path, embedder)
    services = build_services(make_settings(tmp_path), embedder)
    services.store.delete("default", document_filter(ids["astro"]))
    services.close()

    report = run(tmp_path, "doctor")
    repaired = run(tmp_path, "doctor", "--repair")
    healthy = run(tmp_path, "doctor")

    assert report.exit_code == 1 and "1 document(s) without points" in report.stdout
    assert "forgotten (ingest it again): default/astro" in repaired.stdout
    assert healthy.exit_code == 0 and "ok" in healthy.stdout
    services = build_services(make_settings(tmp_path), embedder)
    try:
        assert list(services.registry.indexed_counts().values()) == [1]
    finally:
        services.close()


def test_a_damaged_registry_file_is_named_in_one_line(tmp_path: Path, embedder: Embedder) -> None:
    indexed(tmp_path, embedder)
    (tmp_path / "registry.db").write_bytes(b"this is not a database" * 100)

    result = run(tmp_path, "search", "planet")

    assert result.exit_code == 1
    assert "cannot read the registry sqlite:///" in one_line(result)
    assert "registry.db" in one_line(result) and "Traceback" not in result.output

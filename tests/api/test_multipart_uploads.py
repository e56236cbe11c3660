"""Multipart uploads: every file gets its own outcome, named by its path under the upload root."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ragfleet.api.routes.documents import upload_source
from tests.utils.jobs import wait_for_job

LATIN1 = "Le café de la gare ouvre à sept heures; crème brûlée servie à midi.".encode("latin-1")


def post(client: TestClient, *files: tuple[str, bytes]) -> tuple[int, dict[str, Any]]:
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    response = client.post("/v1/documents", files=parts)
    return response.status_code, response.json()


def test_bad_files_are_refused_by_name_and_the_rest_accepted(client: TestClient) -> None:
    status, body = post(
        client,
        ("notes/menu.txt", LATIN1),
        ("song.mp3", b"ID3\x03\x00"),
        ("broken.pdf", b"%PDF-1.7 not really"),
        ("guide.md", b"# Guide\n\nInstall with pip."),
    )
    assert status == 202
    assert [(d["source"], d["status"]) for d in body["data"]] == [
        ("notes/menu.txt", "queued"),
        ("guide.md", "queued"),
    ]
    refused = {r["file"]: r for r in body["refused"]}
    assert set(refused) == {"song.mp3", "broken.pdf"}
    assert refused["song.mp3"]["code"] == "unsupported_type"
    assert refused["song.mp3"]["message"].startswith("song.mp3: unsupported file type '.mp3'")
    assert "broken.pdf" in refused["broken.pdf"]["message"]
    for accepted in body["data"]:
        assert wait_for_job(client, accepted["job_id"])["status"] == "succeeded"
    hits = client.post("/v1/search", json={"query": "crème brûlée café"}).json()["data"]
    assert "crème brûlée" in hits[0]["text"]  # Latin-1 decoded, not refused or garbled


def test_same_file_name_in_two_folders_is_two_documents(client: TestClient) -> None:
    status, body = post(
        client,
        ("docs/install/index.md", b"# Install\n\nUse pip."),
        ("docs/usage/index.md", b"# Usage\n\nRun the server."),
    )
    assert status == 202, body
    assert [d["source"] for d in body["data"]] == [
        "docs/install/index.md",
        "docs/usage/index.md",
    ]


def test_a_request_with_no_acceptable_file_fails_whole(client: TestClient) -> None:
    status, body = post(client, ("a.mp3", b"ID3"), ("b.exe", b"MZ"))
    assert status == 415
    assert body["code"] == "unsupported_type"
    assert "a.mp3: " in body["message"] and "b.exe: " in body["message"]
    assert client.get("/v1/documents").json()["count"] == 0


def test_upload_paths_stay_under_the_upload_root() -> None:
    assert upload_source("../../etc/index.md") == "etc/index.md"
    assert upload_source("/abs/./x.md") == "abs/x.md"
    assert upload_source("folder\\sub\\y.md") == "folder/sub/y.md"
    assert upload_source(None) == upload_source("..") == "upload"

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ragfleet.api.app import create_app
from ragfleet.embedding import Embedder
from ragfleet.generation.answerer import NO_PASSAGES
from ragfleet.services import build_services
from tests.utils.config import make_settings
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD
from tests.utils.jobs import ingest_text
from tests.utils.llm_stub import StubState, llm_stub

QUESTION = {"question": "How do I install ragfleet on Linux?"}


def metric_value(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not exported")


def events(response: Any) -> list[tuple[str, dict[str, Any]]]:
    parsed = []
    for block in response.text.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        parsed.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return parsed


def test_extractive_answer_without_llm(client: TestClient) -> None:
    ingest_text(client, GUIDE_MD, source="guide")
    ingest_text(client, ASTRONOMY_MD, source="astro")
    body = client.post("/v1/query", json=QUESTION).json()
    assert body["mode"] == "extractive" and body["fallback_reason"] == "not_configured"
    # Quoted sentences are supported; the score is how relevant the quoted passages are.
    assert body["grounded"] is True and 0.3 <= body["groundedness"] < 1.0
    assert "pip" in body["answer"] and "[1]" in body["answer"]
    assert body["citations"][0]["title"] == "Guide"
    assert body["citations"][0]["section"] == "Guide > Install > Linux"
    assert {"retrieve", "generate"} <= set(body["timings_ms"])


def test_no_passages(client: TestClient) -> None:
    body = client.post("/v1/query", json=QUESTION).json()
    assert body["mode"] == "extractive" and body["citations"] == []
    assert (body["answer"], body["grounded"]) == (NO_PASSAGES, False)


@pytest.mark.parametrize("stream", [False, True])
def test_no_relevant_passage_abstains(client: TestClient, stream: bool) -> None:
    ingest_text(client, ASTRONOMY_MD, source="astro")
    question = {"question": "How do I rebase a branch in git?", "stream": stream}
    response = client.post("/v1/query", json=question)
    if stream:
        stream_events = events(response)
        text = "".join(d["text"] for n, d in stream_events if n == "token")
        body = {**stream_events[-1][1], "answer": text, **stream_events[-2][1]}
    else:
        body = response.json()
    assert body["answer"] == NO_PASSAGES and body["citations"] == []
    assert body["grounded"] is False and body["groundedness"] < 0.3


def test_extractive_answer_streams_sentence_by_sentence(client: TestClient) -> None:
    ingest_text(client, GUIDE_MD, source="guide")
    whole = client.post("/v1/query", json=QUESTION).json()["answer"]
    stream = events(client.post("/v1/query", json={**QUESTION, "stream": True}))
    tokens = [d["text"] for n, d in stream if n == "token"]
    assert len(tokens) == whole.count("[") > 1
    assert "".join(tokens) == whole


@pytest.mark.parametrize("route", ["/v1/query", "/v1/search"])
def test_unknown_collection_is_named_in_a_404(client: TestClient, route: str) -> None:
    ingest_text(client, GUIDE_MD, source="guide")
    field = "question" if route == "/v1/query" else "query"
    response = client.post(route, json={field: "install", "collection": "gudie"})
    assert response.status_code == 404
    assert response.json()["message"] == "collection 'gudie' does not exist"
    # The default collection is never unknown, only empty.
    assert client.post(route, json={field: "install", "collection": "default"}).status_code == 200


@pytest.fixture
def llm(tmp_path: Path, embedder: Embedder) -> Iterator[tuple[TestClient, StubState]]:
    with llm_stub() as (url, state):
        settings = make_settings(tmp_path, llm={"base_url": url, "timeout_s": 1.0, "model": "stub"})
        services = build_services(settings, embedder)
        with TestClient(create_app(services=services)) as client:
            ingest_text(client, GUIDE_MD, source="guide")
            yield client, state
        services.close()


def test_llm_answer_with_citations(llm: tuple[TestClient, StubState]) -> None:
    client, state = llm
    body = client.post("/v1/query", json=QUESTION).json()
    assert body["mode"] == "llm" and body["fallback_reason"] is None
    assert body["answer"] == "Install it with pip [1]."
    assert body["citations"][0]["n"] == 1 and body["citations"][0]["title"] == "Guide"
    assert body["usage"] == {"prompt_tokens": 42, "completion_tokens": 7}
    assert body["grounded"] is True and body["groundedness"] == 1.0
    sent = state.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]
    assert re.search(
        r"^\u27e6passage 1 \w+\u27e7\nGuide > Install > Linux$", sent[1]["content"], re.M
    )
    assert "How do I install" in sent[1]["content"]


def test_llm_stream(llm: tuple[TestClient, StubState]) -> None:
    client, _ = llm
    response = client.post("/v1/query", json={**QUESTION, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    stream = events(response)
    names = [name for name, _ in stream]
    assert names == ["meta", "token", "token", "token", "citations", "done"]
    assert stream[0][1]["mode"] == "llm"
    assert "".join(d["text"] for n, d in stream if n == "token") == "Install it with pip [1]."
    assert stream[-2][1]["citations"][0]["n"] == 1
    assert stream[-1][1]["usage"] == {"prompt_tokens": 42, "completion_tokens": 3}
    assert stream[-1][1]["grounded"] is True


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [("error", "http_5xx"), ("slow", "timeout"), ("empty", "malformed")],
)
@pytest.mark.parametrize("stream", [False, True])
def test_llm_failures_fall_back(
    llm: tuple[TestClient, StubState], behaviour: str, reason: str, stream: bool
) -> None:
    client, state = llm
    state.behaviour = behaviour
    response = client.post("/v1/query", json={**QUESTION, "stream": stream})
    assert response.status_code == 200
    if stream:
        meta = events(response)[0][1]
        assert (meta["mode"], meta["fallback_reason"]) == ("extractive", reason)
    else:
        body = response.json()
        assert (body["mode"], body["fallback_reason"]) == ("extractive", reason)
        assert "pip" in body["answer"] and body["citations"]


def test_unsupported_answer_is_flagged(llm: tuple[TestClient, StubState]) -> None:
    client, state = llm
    state.behaviour = "off_topic"
    before = metric_value(client, "ragfleet_answers_ungrounded_total")
    body = client.post("/v1/query", json=QUESTION).json()
    assert body["mode"] == "llm"
    assert (body["groundedness"], body["grounded"]) == (0.0, False)
    assert metric_value(client, "ragfleet_answers_ungrounded_total") == before + 1


def test_stream_broken_midway_reports_error(llm: tuple[TestClient, StubState]) -> None:
    client, state = llm
    state.behaviour = "break"
    stream = events(client.post("/v1/query", json={**QUESTION, "stream": True}))
    names = [name for name, _ in stream]
    assert names == ["meta", "token", "token", "error", "citations", "done"]
    assert stream[-1][1]["finish_reason"] == "error"


def test_connection_refused_falls_back(tmp_path: Path, embedder: Embedder) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(tmp_path, llm={"base_url": f"http://127.0.0.1:{port}/v1"})
    services = build_services(settings, embedder)
    try:
        with TestClient(create_app(services=services)) as client:
            ingest_text(client, GUIDE_MD, source="guide")
            body = client.post("/v1/query", json=QUESTION).json()
            assert (body["mode"], body["fallback_reason"]) == ("extractive", "connection")
    finally:
        services.close()


def test_bad_question(client: TestClient) -> None:
    response = client.post("/v1/query", json={"question": "q" * 5000, "stream": True})
    assert response.status_code == 400 and response.json()["code"] == "bad_input"


def test_feedback_is_stored_and_counted(client: TestClient) -> None:
    query_id = client.post("/v1/query", json=QUESTION).json()["query_id"]
    before = metric_value(client, 'ragfleet_feedback_total{rating="down"}')
    response = client.post(
        "/v1/feedback", json={"query_id": query_id, "rating": "down", "comment": "wrong"}
    )
    assert response.status_code == 201
    assert response.json()["query_id"] == query_id and response.json()["rating"] == "down"
    assert metric_value(client, 'ragfleet_feedback_total{rating="down"}') == before + 1


@pytest.mark.parametrize(
    "body",
    [
        {"query_id": "not-a-uuid", "rating": "up"},
        {"query_id": "6b1f3c1e-9c51-4c1a-8f0e-3f4a2d7c9b10", "rating": "meh"},
        {"query_id": "6b1f3c1e-9c51-4c1a-8f0e-3f4a2d7c9b10", "rating": "up", "comment": "x" * 3000},
    ],
)
def test_bad_feedback(client: TestClient, body: dict[str, object]) -> None:
    response = client.post("/v1/feedback", json=body)
    assert response.status_code == 422 and response.json()["code"] == "validation_error"

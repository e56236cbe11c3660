"""Answers wait for inference to wake from zero: a refused connection holds the request (counted
in ragfleet_llm_requests_held, SSE ``waiting``) until the LLM answers or the wake timeout passes.

"Scaled to zero" is a loopback port nobody listens on; the stub vLLM starts on it only once the
gauge shows the request held, so an LLM answer proves the request waited for it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from ragfleet.api.app import create_app
from ragfleet.embedding import Embedder
from ragfleet.services import build_services
from tests.utils.config import make_settings
from tests.utils.documents import GUIDE_MD
from tests.utils.jobs import ingest_text
from tests.utils.llm_stub import StubState, _handler
from tests.utils.servers import free_port

if TYPE_CHECKING:
    # The response type of Starlette's TestClient (httpx2, not the httpx the app uses).
    from httpx2 import Response

QUESTION = {"question": "How do I install ragfleet on Linux?"}
HELD = "ragfleet_llm_requests_held"


def held() -> float:
    value = REGISTRY.get_sample_value(HELD)
    assert value is not None, f"{HELD} is not exported"
    return value


@contextmanager
def vllm_on(port: int) -> Iterator[StubState]:
    """The stub vLLM served on ``port`` (inference woke up)."""
    state = StubState()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def api(tmp_path: Path, embedder: Embedder, port: int, wake: float) -> Iterator[TestClient]:
    llm = {
        "base_url": f"http://127.0.0.1:{port}/v1",
        "model": "stub",
        "timeout_s": 5.0,
        "wake_timeout_s": wake,
        "wake_poll_s": 0.05,
    }
    services = build_services(make_settings(tmp_path, llm=llm), embedder)
    with TestClient(create_app(services=services)) as client:
        ingest_text(client, GUIDE_MD, source="guide")
        yield client
    services.close()


def wait_until(condition: Callable[[], bool], request: Future[Response]) -> None:
    """Poll ``condition`` while the request is in flight; fail if it finished first."""
    while not condition():
        assert not request.done(), f"the request ended without being held: {request.result()}"
        time.sleep(0.01)


def events(response: Response) -> list[tuple[str, dict[str, Any]]]:
    parsed = []
    for block in response.text.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        parsed.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return parsed


@pytest.mark.parametrize("stream", [False, True])
def test_a_held_request_is_answered_by_the_llm_once_inference_wakes(
    tmp_path: Path, embedder: Embedder, stream: bool
) -> None:
    port = free_port()
    with api(tmp_path, embedder, port, wake=60) as client, ThreadPoolExecutor(1) as pool:
        assert held() == 0
        request = pool.submit(client.post, "/v1/query", json={**QUESTION, "stream": stream})
        wait_until(lambda: held() >= 1, request)
        with vllm_on(port) as state:
            response = request.result()
        assert response.status_code == 200
        assert held() == 0
        assert len(state.requests) == 1
        if stream:
            (name, waiting), (_, meta), *_ = events(response)
            assert (name, waiting) == ("waiting", {"reason": "connection", "timeout_s": 60.0})
            assert (meta["mode"], meta["fallback_reason"]) == ("llm", None)
        else:
            body = response.json()
            assert (body["mode"], body["answer"]) == ("llm", "Install it with pip [1].")


@pytest.mark.parametrize("stream", [False, True])
def test_after_the_wake_timeout_the_answer_falls_back_to_extractive(
    tmp_path: Path, embedder: Embedder, stream: bool
) -> None:
    with api(tmp_path, embedder, free_port(), wake=0.2) as client:
        response = client.post("/v1/query", json={**QUESTION, "stream": stream})
        assert response.status_code == 200
        assert held() == 0
        if stream:
            names = [name for name, _ in events(response)]
            assert names[:2] == ["waiting", "meta"]
            meta = events(response)[1][1]
        else:
            meta = response.json()
        assert (meta["mode"], meta["fallback_reason"]) == ("extractive", "connection")


@pytest.mark.parametrize("stream", [False, True])
def test_no_wake_timeout_never_holds(tmp_path: Path, embedder: Embedder, stream: bool) -> None:
    with api(tmp_path, embedder, free_port(), wake=0) as client:
        response = client.post("/v1/query", json={**QUESTION, "stream": stream})
        if stream:
            assert "waiting" not in [name for name, _ in events(response)]
            meta = events(response)[0][1]
        else:
            meta = response.json()
        assert (meta["mode"], meta["fallback_reason"]) == ("extractive", "connection")


@pytest.mark.parametrize("stream", [False, True])
def test_failures_a_new_replica_would_not_fix_are_not_held(
    tmp_path: Path, embedder: Embedder, stream: bool
) -> None:
    port = free_port()
    with vllm_on(port) as state, api(tmp_path, embedder, port, wake=60) as client:
        state.behaviour = "error"
        response = client.post("/v1/query", json={**QUESTION, "stream": stream})
        assert len(state.requests) == 1, "a 5xx is answered extractively at once, not retried"
        if stream:
            assert "waiting" not in [name for name, _ in events(response)]
            meta = events(response)[0][1]
        else:
            meta = response.json()
        assert (meta["mode"], meta["fallback_reason"]) == ("extractive", "http_5xx")

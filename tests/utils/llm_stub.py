"""A real HTTP server on loopback speaking the OpenAI API, standing in for vLLM.

Chat completions (plain and streaming), embeddings (bag-of-words vectors, so similar words score
high) and rerank. ``behaviour`` decides each response: ``ok``; ``error`` answers 500; ``slow``
sleeps past the client's timeout; ``break`` streams two tokens then sends garbage; ``empty``
answers with no content; ``off_topic`` answers (not streamed) with a sentence no passage
supports. ``failures`` makes that many requests answer 503 before the behaviour applies (a
transient fault).
"""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER_TOKENS = ["Install it", " with pip", " [1]."]
OFF_TOPIC = "Bananas are a yellow fruit rich in potassium [1]."
EMBEDDING_SIZE = 64


def bag_of_words(text: str) -> list[float]:
    vector = [0.0] * EMBEDDING_SIZE
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[zlib.crc32(word.encode()) % EMBEDDING_SIZE] += 1.0
    return vector


class StubState:
    def __init__(self) -> None:
        self.behaviour = "ok"
        self.failures = 0
        self.requests: list[dict[str, Any]] = []


def _handler(state: StubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default stderr log."""

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._json(200, {"data": [{"id": "stub-model"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            if state.failures > 0:
                state.failures -= 1
                self._json(503, {"error": "warming up"})
                return
            if state.behaviour == "error":
                self._json(500, {"error": "boom"})
                return
            if state.behaviour == "slow":
                time.sleep(3)
                self._json(200, {})
                return
            if self.path.endswith("/embeddings"):
                data = [
                    {"index": i, "embedding": bag_of_words(text)}
                    for i, text in reversed(list(enumerate(body["input"])))
                ]
                self._json(200, {"data": data})
                return
            if self.path.endswith("/rerank"):
                query = set(re.findall(r"[a-z0-9]+", body["query"].lower()))
                results = [
                    {
                        "index": i,
                        "relevance_score": len(query & set(re.findall(r"[a-z0-9]+", d.lower()))),
                    }
                    for i, d in enumerate(body["documents"])
                ]
                self._json(200, {"results": results})
                return
            if not body.get("stream"):
                content = {"empty": "", "off_topic": OFF_TOPIC}.get(
                    state.behaviour, "".join(ANSWER_TOKENS)
                )
                self._json(
                    200,
                    {
                        "choices": [{"message": {"content": content}}],
                        "usage": {"prompt_tokens": 42, "completion_tokens": 7},
                    },
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            tokens = {"break": ANSWER_TOKENS[:2], "empty": []}.get(state.behaviour, ANSWER_TOKENS)
            for token in tokens:
                chunk = {"choices": [{"delta": {"content": token}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            if state.behaviour == "break":
                self.wfile.write(b"data: {not json\n\n")
                return
            usage = {"choices": [], "usage": {"prompt_tokens": 42, "completion_tokens": 3}}
            self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())

    return Handler


@contextmanager
def llm_stub() -> Iterator[tuple[str, StubState]]:
    """Yield the server's /v1 base URL and its state."""
    state = StubState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    finally:
        server.shutdown()
        server.server_close()

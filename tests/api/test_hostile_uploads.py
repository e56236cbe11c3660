"""A crafted upload fails alone, in its own parser process, while the server keeps answering."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from ragfleet.api.app import create_app
from ragfleet.embedding import Embedder
from ragfleet.services import build_services
from tests.utils.config import make_settings
from tests.utils.documents import GUIDE_MD, docx_body, make_hostile_docx

if TYPE_CHECKING:
    # The response type of Starlette's TestClient (httpx2, not the httpx the app uses).
    from httpx2 import Response


def test_a_parser_bomb_is_refused_by_name_and_health_answers_meanwhile(
    tmp_path: Path, embedder: Embedder
) -> None:
    settings = make_settings(tmp_path, parsing={"timeout_s": 3, "workers": 1})
    services = build_services(settings, embedder)
    bomb = make_hostile_docx(docx_body(b"<w:p/>" * 3_000_000))
    outcome: dict[str, Response] = {}
    try:
        with TestClient(create_app(services=services)) as client:

            def upload() -> None:
                files = [
                    ("files", ("bomb.docx", bomb, "application/octet-stream")),
                    ("files", ("guide.md", GUIDE_MD.encode(), "text/markdown")),
                ]
                outcome["response"] = client.post("/v1/documents", files=files)

            worker = threading.Thread(target=upload)
            worker.start()
            health = [client.get("/healthz").status_code]
            while worker.is_alive() and len(health) < 1000:
                health.append(client.get("/healthz").status_code)
            answered_while_parsing = worker.is_alive() or len(health) > 1
            worker.join(60)
            response = outcome["response"]
    finally:
        services.close()
    assert answered_while_parsing and set(health) == {200}
    body = response.json()
    assert response.status_code == 202
    assert [a["status"] for a in body["data"]] == ["queued"]
    (refusal,) = body["refused"]
    assert refusal["file"] == "bomb.docx" and refusal["code"] == "parse_limit"
    assert "took longer than 3 s" in refusal["message"]

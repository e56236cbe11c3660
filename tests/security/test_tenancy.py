"""Write-side tenancy, feedback ownership and the audit trail."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from ragfleet.registry.tables import FeedbackRow, QueryRow
from ragfleet.security.keys import hash_key
from ragfleet.telemetry.logging import JsonFormatter
from tests.security.conftest import StartApp
from tests.utils.documents import ASTRONOMY_MD
from tests.utils.jobs import ingest_text

RED, BLUE, ADMIN = "rfk_red-tenant-key-000", "rfk_blue-tenant-key-11", "rfk_admin-key-2222222"
WRITER = "rfk_writer-key-3333333"  # every document readable, no admin scope


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def tenants(start_app: StartApp) -> TestClient:
    keys: list[dict[str, Any]] = [
        {"key_hash": hash_key(RED), "name": "red", "groups": ["red"]},
        {"key_hash": hash_key(BLUE), "name": "blue", "groups": ["blue"]},
        {"key_hash": hash_key(ADMIN), "name": "ops", "scopes": ["read", "write", "admin"]},
        {"key_hash": hash_key(WRITER), "name": "writer"},
    ]
    client = start_app(
        auth={"api_keys": keys}, security={"retain_queries": True}, headers=bearer(ADMIN)
    )
    ingest_text(client, ASTRONOMY_MD, source="public")
    return client


def ingest_as(client: TestClient, key: str, text: str, **fields: Any) -> dict[str, Any]:
    """``ingest_text`` with another key."""
    default = client.headers["Authorization"]
    client.headers["Authorization"] = f"Bearer {key}"
    try:
        return ingest_text(client, text, **fields)
    finally:
        client.headers["Authorization"] = default


def test_feedback_only_for_the_callers_own_queries(tenants: TestClient) -> None:
    question = {"question": "Which planet is the largest?"}
    red_query = tenants.post("/v1/query", json=question, headers=bearer(RED)).json()["query_id"]
    rating = {"query_id": red_query, "rating": "up"}
    for other in (rating | {"query_id": str(uuid.uuid4())}, rating):
        refused = tenants.post("/v1/feedback", json=other, headers=bearer(BLUE))
        assert refused.status_code == 404 and refused.json()["code"] == "not_found"
    accepted = tenants.post("/v1/feedback", json=rating, headers=bearer(RED))
    assert accepted.status_code == 201
    assert isinstance(tenants.app, FastAPI)
    registry = tenants.app.state.services.registry
    with registry.session() as session:
        rated = session.execute(select(FeedbackRow.key_name)).all()
        asked = session.execute(select(QueryRow.key_name, QueryRow.question)).all()
    assert [tuple(r) for r in rated] == [("red",)]
    assert [tuple(r) for r in asked] == [("red", question["question"])]


def test_a_tenant_cannot_hide_a_public_document(tenants: TestClient) -> None:
    narrowed: dict[str, Any] = {"text": "Mine now.", "source": "public", "acl": ["red"]}
    own = ingest_as(tenants, RED, **narrowed)  # a document of red's own, beside the public one
    hits = tenants.post("/v1/search", json={"query": "planet"}, headers=bearer(BLUE)).json()
    assert {h["source"] for h in hits["data"]} == {"public"}
    assert own["job"]["status"] == "succeeded"
    assert tenants.get("/v1/documents", headers=bearer(ADMIN)).json()["count"] == 2


def test_only_admin_may_restrict_a_public_document(tenants: TestClient) -> None:
    narrowed = {"text": "Mine now.", "source": "public", "acl": ["blue"]}
    refused = tenants.post("/v1/documents", json=narrowed, headers=bearer(WRITER))
    assert refused.status_code == 403 and "admin scope" in refused.json()["message"]
    allowed = tenants.post("/v1/documents", json=narrowed, headers=bearer(ADMIN))
    assert allowed.status_code == 202


def test_a_write_cannot_tell_another_tenant_s_source_from_an_absent_one(
    tenants: TestClient,
) -> None:
    red = ingest_as(tenants, RED, "# Red plans\n\nSecret.", source="plans", acl=["red"])
    taken = tenants.post(
        "/v1/documents", json={"text": "x", "source": "plans"}, headers=bearer(BLUE)
    )
    absent = tenants.post(
        "/v1/documents", json={"text": "x", "source": "free"}, headers=bearer(BLUE)
    )
    assert taken.status_code == absent.status_code == 202
    assert taken.json()["data"][0]["document_id"] != red["document_id"]
    assert red["document_id"] not in taken.text
    red_doc = tenants.get(f"/v1/documents/{red['document_id']}", headers=bearer(RED)).json()
    assert red_doc["status"] == "indexed" and red_doc["acl"] == ["red"]


def test_every_write_and_query_has_an_audit_line(
    tenants: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ragfleet.audit")
    posted = tenants.post(
        "/v1/documents",
        json={"text": "Notes.", "source": "n", "collection": "notes"},
        headers=bearer(RED),
    )
    tenants.post("/v1/query", json={"question": "Notes?"}, headers=bearer(BLUE))
    tenants.post("/v1/documents", json={"text": "x"}, headers=bearer("rfk_wrong"))
    tenants.get("/v1/jobs", headers=bearer(RED))  # reads by GET are not audited
    lines = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "ragfleet.audit"
    ]
    assert [(e.get("key"), e["route"], e["outcome"]) for e in lines] == [
        ("red", "/v1/documents", "ok"),
        ("blue", "/v1/query", "ok"),
        (None, "/v1/documents", "denied"),
    ]
    write = lines[0]
    assert write["collection"] == "notes"
    assert write["document_ids"] == [posted.json()["data"][0]["document_id"]]
    assert write["request_id"] == posted.headers["x-request-id"]
    assert write["logger"] == "ragfleet.audit" and write["status"] == 202


def test_a_tenant_cannot_tell_another_s_collection_from_an_absent_one(
    tenants: TestClient,
) -> None:
    ingest_as(
        tenants, RED, "# Red notes\n\nPlans.", source="n", collection="red-notes", acl=["red"]
    )
    probes = {
        name: tenants.post(
            "/v1/search", json={"query": "plans", "collection": name}, headers=bearer(BLUE)
        )
        for name in ("red-notes", "never-made")
    }
    assert [r.status_code for r in probes.values()] == [404, 404]
    own = tenants.post(
        "/v1/search", json={"query": "plans", "collection": "red-notes"}, headers=bearer(RED)
    )
    assert own.status_code == 200 and own.json()["count"] == 1

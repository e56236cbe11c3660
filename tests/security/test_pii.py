"""PII never reaches the LLM under the default policy; citations and hits follow the policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ragfleet.security.keys import hash_key
from ragfleet.security.pii import RECOGNIZERS, PiiRedactor
from ragfleet.settings import SecuritySettings
from tests.security.conftest import StartApp
from tests.utils.jobs import ingest_text
from tests.utils.llm_stub import StubState
from tests.utils.pii import GENERATORS, generate, leaked, pii_document

KEY = "k-" + "x" * 40
AUTH = {"Authorization": f"Bearer {KEY}"}
METRICS_TOKEN = "m-" + "z" * 30
QUESTION = "How do I get install help for ragfleet with pip?"
SEEDS = range(5)


def metric(client: TestClient, name: str) -> float:
    scrape = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    for line in scrape.text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not exported")


def test_generators_cover_every_supported_type() -> None:
    assert set(GENERATORS) == set(RECOGNIZERS) == set(SecuritySettings().pii_entities)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_generated_value_is_redacted(seed: int) -> None:
    values = generate(seed)
    redacted = PiiRedactor(list(RECOGNIZERS)).redact(pii_document(values), "llm")
    assert leaked(values, redacted) == []
    for entity in values:
        assert f"<{entity}>" in redacted
    assert "install ragfleet with pip on Linux" in redacted  # the prose is kept


def test_only_configured_types_are_redacted() -> None:
    values = generate(0)
    redacted = PiiRedactor(["EMAIL_ADDRESS"]).redact(pii_document(values), "llm")
    assert leaked(values, redacted) == [e for e in values if e != "EMAIL_ADDRESS"]


@pytest.mark.parametrize(
    "text", ["order 123456789 shipped", "version 2024-10-12", "call extension 4411"]
)
def test_ordinary_numbers_are_kept(text: str) -> None:
    assert PiiRedactor(list(RECOGNIZERS)).redact(text, "llm") == text


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="PERSON"):
        PiiRedactor(["PERSON"])


@pytest.fixture
def production(
    start_app: StartApp, recording_llm: tuple[str, StubState]
) -> tuple[Callable[..., TestClient], StubState]:
    """Start a production-configured app (security settings as keywords) on the recording
    endpoint."""
    url, state = recording_llm

    def start(**security: Any) -> TestClient:
        return start_app(
            headers=AUTH,
            environment="production",
            auth={"api_keys": [{"key_hash": hash_key(KEY), "name": "team"}]},
            server={"metrics_token": METRICS_TOKEN},
            llm={"base_url": url, "timeout_s": 2.0, "model": "stub"},
            security=security,
        )

    return start, state


def _ingest_pii(
    client: TestClient, seeds: range, collection: str = "default"
) -> list[dict[str, str]]:
    values = [generate(seed) for seed in seeds]
    for n, v in enumerate(values):
        ingest_text(client, pii_document(v), source=f"contacts-{n}", collection=collection)
    return values


def test_default_production_policy_keeps_pii_from_the_llm(
    production: tuple[Callable[..., TestClient], StubState],
) -> None:
    start, state = production
    client = start()
    values = _ingest_pii(client, SEEDS)
    before = metric(client, 'ragfleet_pii_redactions_total{entity="EMAIL_ADDRESS",where="llm"}')
    question = f"{QUESTION} My card is {values[0]['CREDIT_CARD']}."
    body = client.post("/v1/query", json={"question": question, "top_k": 10}).json()
    stream = client.post("/v1/query", json={"question": question, "stream": True})
    assert body["mode"] == "llm" and stream.status_code == 200
    sent = json.dumps([r for r in state.requests if "messages" in r], ensure_ascii=False)
    assert len(state.requests) == 2
    for v in values:
        assert leaked(v, sent) == []
    assert "<EMAIL_ADDRESS>" in sent and "<CREDIT_CARD>" in sent
    # redact-for-llm: the caller may read the document, so citations quote it as stored.
    snippets = " ".join(c["snippet"] for c in body["citations"])
    assert any(leaked(v, snippets) for v in values)
    after = metric(client, 'ragfleet_pii_redactions_total{entity="EMAIL_ADDRESS",where="llm"}')
    assert after > before


def test_policy_off_sends_text_as_stored(
    production: tuple[Callable[..., TestClient], StubState],
) -> None:
    start, state = production
    client = start(pii_collections={"open": "off"})
    values = _ingest_pii(client, range(1), collection="open")
    client.post("/v1/query", json={"question": QUESTION, "collection": "open"})
    assert leaked(values[0], json.dumps(state.requests[-1], ensure_ascii=False))


def test_redact_everywhere_covers_hits_citations_and_extractive_answers(
    production: tuple[Callable[..., TestClient], StubState],
) -> None:
    start, state = production
    client = start(pii_collections={"hr": "redact-everywhere"})
    values = _ingest_pii(client, range(2), collection="hr")
    search = client.post("/v1/search", json={"query": QUESTION, "collection": "hr"}).json()
    state.behaviour = "error"  # the extractive fallback quotes passages
    fallback = client.post("/v1/query", json={"question": QUESTION, "collection": "hr"})
    streamed = client.post(
        "/v1/query", json={"question": QUESTION, "collection": "hr", "stream": True}
    )
    assert fallback.json()["mode"] == "extractive" and fallback.json()["citations"]
    assert search["count"] > 0
    for text in (json.dumps(search), fallback.text, streamed.text):
        for v in values:
            assert leaked(v, text) == []
    assert "<IBAN_CODE>" in json.dumps(search) or "<EMAIL_ADDRESS>" in json.dumps(search)


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="redact-for-llm"):
        SecuritySettings(pii_policy="redact")
    with pytest.raises(ValueError, match="collection names"):
        SecuritySettings(pii_collections={"Bad Name": "off"})

"""Hashed keys, scopes, rotation, rate limits, the token quota and failed-auth throttling."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from ragfleet.cli.main import app as cli
from ragfleet.errors import RateLimitedError
from ragfleet.security.keys import hash_key
from ragfleet.security.ratelimit import RateLimits
from ragfleet.settings import ApiKey, LimitSettings, RedisSettings
from tests.security.conftest import StartApp
from tests.utils.config import make_settings
from tests.utils.jobs import ingest_text
from tests.utils.llm_stub import StubState

if TYPE_CHECKING:
    # The response type of Starlette's TestClient (httpx2, not the httpx the app uses).
    from httpx2 import Response

READER, WRITER, ADMIN = "rfk_reader-key-0000000000", "rfk_writer-key-111111111", "rfk_admin-2222"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def entry(key: str, name: str, *scopes: str, **extra: Any) -> dict[str, Any]:
    return {"key_hash": hash_key(key), "name": name, "scopes": list(scopes), **extra}


KEYS = [
    entry(READER, "reader", "read"),
    entry(WRITER, "writer", "read", "write"),
    entry(ADMIN, "admin", "read", "write", "admin"),
]


def test_keys_create_prints_a_key_once_and_its_hash(start_app: StartApp) -> None:
    result = CliRunner().invoke(cli, ["keys", "create", "--name", "web", "--group", "eng"])
    assert result.exit_code == 0, result.output
    key = re.search(r"shown once; give it to the client\): (\S+)", result.stdout)
    stored = json.loads(result.stdout.split("RAGFLEET_AUTH__API_KEYS: ", 1)[1])
    assert key is not None and key[1] not in json.dumps(stored)
    assert stored["name"] == "web" and stored["groups"] == ["eng"]
    assert stored["scopes"] == ["read", "write"]
    client = start_app(environment="production", auth={"api_keys": [stored]})
    assert client.get("/v1/documents", headers=bearer(key[1])).status_code == 200
    assert client.get("/v1/documents", headers=bearer(key[1] + "x")).status_code == 401


@pytest.mark.parametrize(
    ("args", "problem"),
    [(["--name", "has space"], "name"), (["--name", "web", "--scope", "root"], "scopes")],
)
def test_keys_create_refuses_bad_input(args: list[str], problem: str) -> None:
    result = CliRunner().invoke(cli, ["keys", "create", *args])
    assert result.exit_code == 2 and problem in result.stderr


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "either key_hash or"),
        ({"key": "k-1", "key_hash": hash_key("k-1")}, "either key_hash or"),
        ({"key_hash": "md5$abc$def"}, "pattern"),
        ({"key": "k-1", "scopes": []}, "at least 1"),
    ],
)
def test_bad_key_entries_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ApiKey.model_validate(fields)


def test_plaintext_keys_only_in_development(tmp_path: Any) -> None:
    plain = {"api_keys": [{"key": "k-" + "y" * 30, "name": "web"}]}
    assert make_settings(tmp_path, auth=plain).auth.api_keys[0].name == "web"
    with pytest.raises(ValidationError, match="plaintext"):
        make_settings(tmp_path, environment="production", auth=plain)


def test_several_keys_per_tenant_for_rotation(start_app: StartApp) -> None:
    old, new = "rfk_old-key-aaaaaaaaaaaa", "rfk_new-key-bbbbbbbbbbbb"
    client = start_app(auth={"api_keys": [entry(old, "web", "read"), entry(new, "web", "read")]})
    for key in (old, new):
        assert client.get("/v1/jobs", headers=bearer(key)).status_code == 200


@pytest.mark.parametrize(
    ("key", "allowed"),
    [(READER, {"read"}), (WRITER, {"read", "write"}), (ADMIN, {"read", "write", "admin"})],
)
def test_scopes_decide_what_a_key_may_do(start_app: StartApp, key: str, allowed: set[str]) -> None:
    client = start_app(auth={"api_keys": KEYS}, headers=bearer(key))
    calls: dict[str, Callable[[], Response]] = {
        "read": lambda: client.post("/v1/search", json={"query": "planet"}),
        "write": lambda: client.post("/v1/documents", json={"text": "Planets.", "source": "p"}),
        "admin": lambda: client.delete("/v1/collections/default"),
    }
    for scope, call in calls.items():
        response = call()
        if scope in allowed:  # past the scope check (the drop may then be busy: 409)
            assert response.status_code in (200, 202, 204, 409), (scope, response.text)
        else:
            assert response.status_code == 403, (scope, response.text)
            assert response.json()["message"] == f"this API key lacks the {scope} scope"


def _burst(client: TestClient, n: int) -> list[int]:
    return [client.get("/v1/jobs").status_code for _ in range(n)]


def test_a_burst_beyond_the_rate_gets_429(start_app: StartApp) -> None:
    client = start_app(
        auth={"api_keys": KEYS}, limits={"requests_per_minute": 5}, headers=bearer(READER)
    )
    assert _burst(client, 7) == [200] * 5 + [429] * 2
    refused = client.get("/v1/jobs")
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert client.get("/v1/jobs", headers=bearer(WRITER)).status_code == 200  # per key
    metrics = client.get("/metrics").text
    assert 'ragfleet_rate_limited_total{limit="requests",tenant="reader"} 3.0' in metrics


def test_replicas_share_the_rate_in_redis(redis_url: str) -> None:
    settings = LimitSettings(requests_per_minute=4, tokens_per_day=100)
    redis = RedisSettings(url=redis_url)
    first, second = RateLimits(settings, redis), RateLimits(settings, redis)
    for _ in range(4):
        first.request("web")
    with pytest.raises(RateLimitedError):
        second.request("web")  # another replica sees the same counters
    second.request("other")
    first.spend_tokens("web", 120)
    with pytest.raises(RateLimitedError, match="token quota"):
        second.check_tokens("web")


def test_a_failing_counter_store_lets_requests_through() -> None:
    redis = RedisSettings(url="redis://127.0.0.1:1/0")
    limits = RateLimits(LimitSettings(requests_per_minute=1), redis)
    for _ in range(3):
        limits.request("web")


def test_failed_authentication_is_throttled_per_address(start_app: StartApp) -> None:
    client = start_app(auth={"api_keys": KEYS}, limits={"auth_failures_per_minute": 3})
    wrong = [client.get("/v1/jobs", headers=bearer("rfk_guess")).status_code for _ in range(4)]
    assert wrong == [401, 401, 401, 429]
    # The address is refused even with a right key until the window passes.
    assert client.get("/v1/jobs", headers=bearer(READER)).status_code == 429


def test_daily_token_quota(start_app: StartApp, recording_llm: tuple[str, StubState]) -> None:
    url, _ = recording_llm
    client = start_app(
        auth={"api_keys": KEYS},
        limits={"tokens_per_day": 60},
        llm={"base_url": url, "timeout_s": 2.0, "model": "stub"},
        headers=bearer(WRITER),
    )
    ingest_text(client, "Install ragfleet with pip on Linux.", source="guide")
    question = {"question": "How do I install ragfleet?"}
    # The stub reports 49 tokens a plain answer and 45 a streamed one.
    assert client.post("/v1/query", json=question).json()["mode"] == "llm"
    streamed = client.post("/v1/query", json={**question, "stream": True})
    assert streamed.status_code == 200
    refused = client.post("/v1/query", json=question)
    assert refused.status_code == 429 and "token quota" in refused.json()["message"]
    assert client.post("/v1/search", json={"query": "pip"}).status_code == 200

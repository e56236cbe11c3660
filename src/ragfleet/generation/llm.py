"""Client for OpenAI-compatible chat completions (vLLM, OpenAI), plain and streaming.

Every failure becomes an ``LLMError`` whose ``reason`` is a bounded label; callers fall back to
extractive answers and never surface it as a 500.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from ragfleet.errors import LLMError
from ragfleet.generation.wake import Waker
from ragfleet.http import build_client, describe
from ragfleet.settings import LLMSettings
from ragfleet.telemetry import metrics


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(slots=True)
class Completion:
    text: str
    usage: Usage = field(default_factory=Usage)


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.HTTPStatusError):
        return "http_5xx" if exc.response.status_code >= 500 else "http_4xx"
    if isinstance(exc, httpx.TransportError):
        return "connection"
    return "malformed"


def _usage(data: dict[str, Any]) -> Usage | None:
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


class ChatClient:
    def __init__(self, settings: LLMSettings) -> None:
        assert settings.base_url is not None
        self.settings = settings
        self._client = build_client(
            settings.base_url, settings.api_key, settings.timeout_s, settings.connect_timeout_s
        )
        self.waker = Waker(self.check, settings.wake_timeout_s, settings.wake_poll_s)

    def _body(self, messages: list[dict[str, str]], stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "max_tokens": self.settings.max_tokens,
            "temperature": self.settings.temperature,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _record(self, usage: Usage, began: float) -> None:
        metrics.LLM_DURATION.observe(time.perf_counter() - began)
        metrics.LLM_TOKENS.labels("prompt").inc(usage.prompt_tokens)
        metrics.LLM_TOKENS.labels("completion").inc(usage.completion_tokens)

    def complete(self, messages: list[dict[str, str]]) -> Completion:
        began = time.perf_counter()
        try:
            response = self._client.post("chat/completions", json=self._body(messages, False))
            response.raise_for_status()
            data = response.json()
            text = data["choices"][0]["message"]["content"]
            if not isinstance(text, str) or not text.strip():
                raise ValueError("no message content")
            completion = Completion(text, _usage(data) or Usage())
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(_reason(exc), describe(exc)) from exc
        self._record(completion.usage, began)
        return completion

    def stream(self, messages: list[dict[str, str]], usage: Usage) -> Iterator[str]:
        """Yield content deltas; ``usage`` is filled in when the server reports it."""
        began = time.perf_counter()
        first = True
        try:
            with self._client.stream(
                "POST", "chat/completions", json=self._body(messages, True)
            ) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    data = json.loads(payload)
                    if reported := _usage(data):
                        usage.prompt_tokens = reported.prompt_tokens
                        usage.completion_tokens = reported.completion_tokens
                    for choice in data.get("choices") or []:
                        delta = (choice.get("delta") or {}).get("content")
                        if delta:
                            if first:
                                metrics.LLM_TTFT.observe(time.perf_counter() - began)
                                first = False
                            yield delta
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LLMError(_reason(exc), describe(exc)) from exc
        if first:
            raise LLMError("malformed", "the stream ended without any content")
        self._record(usage, began)

    def check(self) -> None:
        try:
            self._client.get("models").raise_for_status()
        except httpx.HTTPError as exc:
            raise LLMError(_reason(exc), describe(exc)) from exc

    def close(self) -> None:
        self._client.close()

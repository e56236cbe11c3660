"""Question answering: retrieve passages, ask the LLM to answer with ``[n]`` citations, or fall
back to an extractive answer (``mode: "extractive"``) when no LLM is configured or it fails."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ragfleet.domain import ANONYMOUS, Location, SearchHit
from ragfleet.errors import LLMError
from ragfleet.generation.extractive import ExtractiveAnswerer, answer_sentences
from ragfleet.generation.grounding import Groundedness, GroundednessScorer
from ragfleet.generation.llm import ChatClient, Completion, Usage
from ragfleet.generation.prompt import build_messages
from ragfleet.retrieval.search import SearchRequest, SearchService
from ragfleet.security.guard import PassageGuard
from ragfleet.telemetry import metrics
from ragfleet.telemetry.timing import Timer

logger = logging.getLogger(__name__)

CITATION = re.compile(r"\[(\d{1,3})\]")
SNIPPET_CHARS = 300
NO_PASSAGES = "No indexed passage answers this question."
NO_PASSAGES_REASON = "no_passages"


@dataclass(frozen=True, slots=True, kw_only=True)
class Citation(Location):
    """An answer's ``[n]``: where the passage comes from, the marker and a snippet."""

    n: int
    snippet: str


@dataclass(slots=True)
class Answer:
    query_id: str
    answer: str
    mode: str
    citations: list[Citation]
    groundedness: Groundedness
    usage: Usage = field(default_factory=Usage)
    timings_ms: dict[str, float] = field(default_factory=dict)
    fallback_reason: str | None = None

    @property
    def grounded(self) -> bool | None:
        return self.groundedness.grounded


@dataclass(slots=True)
class Prepared:
    """Retrieval done, generation pending: what a streaming response needs."""

    query_id: str
    question: str
    passages: list[SearchHit]
    timer: Timer
    tenant: str = ANONYMOUS
    relevance: float | None = None  # the question's best similarity with a passage


def cited_numbers(answer: str) -> list[int]:
    """The ``[n]`` markers of an LLM answer, in order of first reference."""
    return list(dict.fromkeys(int(n) for n in CITATION.findall(answer)))


def cite(numbers: list[int], passages: list[SearchHit]) -> list[Citation]:
    """Citations for the passage numbers; numbers outside the passages are ignored."""
    citations = []
    for n in dict.fromkeys(numbers):
        if 1 <= n <= len(passages):
            hit = passages[n - 1]
            citations.append(
                Citation(**asdict(hit.location()), n=n, snippet=hit.text[:SNIPPET_CHARS])
            )
    return citations


@dataclass(frozen=True, slots=True)
class Pricing:
    """Per-1,000-token prices for the per-tenant token and cost counters; ``quota`` is told
    each tenant's tokens too (the daily token limit)."""

    prompt_per_1k: float = 0.0
    completion_per_1k: float = 0.0
    quota: Callable[[str, int], None] | None = None

    @staticmethod
    def register(tenants: list[str]) -> None:
        """Export zeros for every known tenant, so dashboards show them before any spend."""
        for tenant in tenants:
            metrics.TENANT_COST.labels(tenant)
            for direction in ("prompt", "completion"):
                metrics.TENANT_TOKENS.labels(tenant, direction)

    def bill(self, tenant: str, usage: Usage) -> None:
        metrics.TENANT_TOKENS.labels(tenant, "prompt").inc(usage.prompt_tokens)
        metrics.TENANT_TOKENS.labels(tenant, "completion").inc(usage.completion_tokens)
        cost = (
            usage.prompt_tokens * self.prompt_per_1k
            + usage.completion_tokens * self.completion_per_1k
        )
        metrics.TENANT_COST.labels(tenant).inc(cost / 1000)
        if self.quota is not None:
            self.quota(tenant, usage.prompt_tokens + usage.completion_tokens)


class AnswerService:
    def __init__(
        self,
        *,
        search: SearchService,
        extractive: ExtractiveAnswerer,
        llm: ChatClient | None,
        grounding: GroundednessScorer,
        pricing: Pricing | None = None,
        guard: PassageGuard,
    ) -> None:
        self.search = search
        self.extractive = extractive
        self.llm = llm
        self.grounding = grounding
        self.pricing = pricing or Pricing()
        self.guard = guard

    def prepare(self, request: SearchRequest, tenant: str = ANONYMOUS) -> Prepared:
        """Validate and retrieve; raises on bad input before any response is started."""
        timer = Timer()
        with timer.stage("retrieve"):
            result = self.search.search(request, timer)
        passages = self.guard.for_answer(result.hits)
        with timer.stage("relevance"):
            relevance = self.grounding.relevance(request.query, passages)
        if not self.grounding.relevant(relevance):
            passages = []  # none is about the question: abstain rather than quote them
        return Prepared(str(uuid.uuid4()), request.query, passages, timer, tenant, relevance)

    def _messages(self, prepared: Prepared) -> list[dict[str, str]]:
        """The chat messages, with question and passages as the LLM may see them."""
        return build_messages(*self.guard.for_llm(prepared.question, prepared.passages))

    def _complete(self, messages: list[dict[str, str]]) -> Completion:
        """One completion; a refused connection first waits for inference to wake from zero."""
        assert self.llm is not None
        try:
            return self.llm.complete(messages)
        except LLMError as exc:
            if not (self.llm.waker.applies(exc.reason) and self.llm.waker.wait()):
                raise
        return self.llm.complete(messages)

    def _first_token(
        self, messages: list[dict[str, str]], usage: Usage
    ) -> tuple[Iterator[str], str | None, str]:
        """Start a stream: its tokens, the first one (None: it failed) and the failure reason."""
        assert self.llm is not None
        tokens = self.llm.stream(messages, usage)
        try:
            return tokens, next(tokens, ""), ""
        except LLMError as exc:
            return tokens, None, exc.reason

    def _open(
        self, messages: list[dict[str, str]], usage: Usage
    ) -> Generator[tuple[str, dict[str, Any]], None, tuple[Iterator[str], str | None, str]]:
        """Start a stream; while inference wakes from zero, yield ``waiting`` and hold."""
        assert self.llm is not None
        tokens, first, reason = self._first_token(messages, usage)
        if first is None and self.llm.waker.applies(reason):
            yield "waiting", {"reason": reason, "timeout_s": self.llm.waker.timeout_s}
            if self.llm.waker.wait():
                tokens, first, reason = self._first_token(messages, usage)
        if first is None:
            logger.warning("LLM stream failed (%s), answering extractively", reason)
        return tokens, first, reason

    def _extractive(self, prepared: Prepared, reason: str) -> Answer:
        if reason != NO_PASSAGES_REASON:  # nothing to answer from is not an LLM fallback
            metrics.LLM_FALLBACKS.labels(reason).inc()
        metrics.ANSWERS.labels("extractive").inc()
        text, numbers = NO_PASSAGES, list[int]()
        if prepared.passages:
            with prepared.timer.stage("generate"):
                text, numbers = self.extractive.answer(prepared.question, prepared.passages)
        return Answer(
            prepared.query_id,
            text,
            "extractive",
            cite(numbers, prepared.passages),
            self.grounding.support(prepared.relevance, answered=bool(prepared.passages)),
            timings_ms=prepared.timer.timings_ms,
            fallback_reason=reason,
        )

    def answer(self, prepared: Prepared) -> Answer:
        if self.llm is None:
            return self._extractive(prepared, "not_configured")
        if not prepared.passages:
            return self._extractive(prepared, NO_PASSAGES_REASON)
        try:
            with prepared.timer.stage("generate"):
                completion = self._complete(self._messages(prepared))
        except LLMError as exc:
            logger.warning("LLM failed (%s), answering extractively: %s", exc.reason, exc.message)
            return self._extractive(prepared, exc.reason)
        metrics.ANSWERS.labels("llm").inc()
        self.pricing.bill(prepared.tenant, completion.usage)
        with prepared.timer.stage("grounding"):
            groundedness = self.grounding.score(completion.text, prepared.passages)
        return Answer(
            prepared.query_id,
            completion.text,
            "llm",
            cite(cited_numbers(completion.text), prepared.passages),
            groundedness,
            completion.usage,
            prepared.timer.timings_ms,
        )

    def stream(self, prepared: Prepared) -> Iterator[tuple[str, dict[str, Any]]]:
        """Server-sent events: ``meta``, ``token``..., ``citations``, ``done``; ``error`` if the
        LLM breaks off after its first token (before that, the answer falls back silently);
        ``waiting`` first while inference wakes from zero (``llm.wake_timeout_s``)."""
        tokens: Iterator[str] = iter(())
        first: str | None = None
        usage = Usage()
        reason = "not_configured" if self.llm is None else NO_PASSAGES_REASON
        if self.llm is not None and prepared.passages:
            tokens, first, reason = yield from self._open(self._messages(prepared), usage)
        if first is None:
            answer = self._extractive(prepared, reason)
            yield (
                "meta",
                {
                    "query_id": answer.query_id,
                    "mode": answer.mode,
                    "fallback_reason": reason,
                    "passages": len(prepared.passages),
                },
            )
            for sentence in answer_sentences(answer.answer):
                yield "token", {"text": sentence}
            yield "citations", {"citations": [asdict(c) for c in answer.citations]}
            yield "done", _done(answer.mode, answer.usage, answer.groundedness, prepared, "stop")
            return
        metrics.ANSWERS.labels("llm").inc()
        yield (
            "meta",
            {
                "query_id": prepared.query_id,
                "mode": "llm",
                "fallback_reason": None,
                "passages": len(prepared.passages),
            },
        )
        parts = [first]
        finish = "stop"
        with prepared.timer.stage("generate"):
            if first:
                yield "token", {"text": first}
            try:
                for delta in tokens:
                    parts.append(delta)
                    yield "token", {"text": delta}
            except LLMError as exc:
                finish = "error"
                metrics.LLM_FALLBACKS.labels(exc.reason).inc()
                yield "error", {"code": "llm_interrupted", "message": exc.message}
        text = "".join(parts)
        self.pricing.bill(prepared.tenant, usage)
        citations = cite(cited_numbers(text), prepared.passages)
        yield "citations", {"citations": [asdict(c) for c in citations]}
        with prepared.timer.stage("grounding"):
            groundedness = self.grounding.score(text, prepared.passages)
        yield "done", _done("llm", usage, groundedness, prepared, finish)


def _done(
    mode: str, usage: Usage, groundedness: Groundedness, prepared: Prepared, finish: str
) -> dict[str, Any]:
    """The closing server-sent event of an answer."""
    return {
        "mode": mode,
        "usage": asdict(usage),
        "groundedness": groundedness.score,
        "grounded": groundedness.grounded,
        "timings_ms": prepared.timer.timings_ms,
        "finish_reason": finish,
    }

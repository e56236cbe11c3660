"""Search and question answering."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from ragfleet.api import API_PREFIX
from ragfleet.api.deps import Principal, PrincipalDep, ServicesDep
from ragfleet.api.guards import QuerySlotsDep
from ragfleet.api.middleware import log_collection
from ragfleet.api.schemas import HitPublic, QueryBody, QueryResponse, SearchBody, SearchResponse
from ragfleet.domain import SearchHit
from ragfleet.errors import NotFoundError, RagfleetError
from ragfleet.retrieval.search import SearchRequest
from ragfleet.retrieval.store import SearchMode
from ragfleet.services import Services

router = APIRouter(prefix=API_PREFIX, tags=["search"])
logger = logging.getLogger(__name__)


def _request(
    http: Request,
    services: Services,
    principal: Principal,
    query: str,
    body: SearchBody | QueryBody,
    default_top_k: int,
) -> SearchRequest:
    settings = services.settings
    collection = body.collection or settings.default_collection
    log_collection(http, collection)
    if collection != settings.default_collection and not _known(services, principal, collection):
        # A typo would otherwise answer "nothing found"; the default may simply be empty yet.
        raise NotFoundError(f"collection {collection!r} does not exist")
    return SearchRequest(
        query=query,
        collection=collection,
        top_k=body.top_k if body.top_k is not None else default_top_k,
        mode=SearchMode(body.mode or settings.retrieval.mode),
        filters=body.filters,
        groups=principal.groups,
    )


def _remember(
    services: Services, query_id: str, principal: Principal, request: SearchRequest
) -> None:
    """Record who asked (feedback is accepted from that key only), and the question when
    ``security.retain_queries`` is on."""
    retain = services.settings.security.retain_queries
    question = request.query if retain else None
    services.registry.record_query(query_id, principal.name, request.collection, question)


def _known(services: Services, principal: Principal, collection: str) -> bool:
    """Whether the caller may learn that the collection exists: keys with groups only when it
    holds a document they can read, so no tenant learns another's collection names."""
    if principal.groups is None:
        return services.store.has_collection(collection)
    return services.registry.has_readable(collection, principal.groups)


def _hit(hit: SearchHit) -> HitPublic:
    return HitPublic(
        **asdict(hit.location()), score=hit.score, text=hit.text, metadata=dict(hit.payload.meta)
    )


@router.post("/search", response_model=SearchResponse, operation_id="search")
async def search(
    body: SearchBody,
    http: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    slots: QuerySlotsDep,
) -> SearchResponse:
    top_k = services.settings.retrieval.top_k
    request = await run_in_threadpool(_request, http, services, principal, body.query, body, top_k)
    async with slots.hold(http):
        result = await run_in_threadpool(services.search.search, request)
    hits = [_hit(h) for h in services.guard.for_reader(result.hits)]
    return SearchResponse(
        data=hits, count=len(hits), mode=request.mode, timings_ms=result.timings_ms
    )


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _sse(events: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[str]:
    """Server-sent events; a failure after the response started ends it with ``error``."""
    try:
        for name, data in events:
            yield _event(name, data)
    except RagfleetError as exc:
        logger.warning("answer stream failed: %s", exc.message)
        yield _event("error", {"code": exc.code, "message": exc.message})
        yield _event("done", {"finish_reason": "error"})


@router.post(
    "/query",
    response_model=QueryResponse,
    operation_id="query",
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON or SSE."}},
)
async def query(
    body: QueryBody,
    http: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    slots: QuerySlotsDep,
) -> QueryResponse | StreamingResponse:
    """Retrieval (and a whole answer) hold a query slot; a stream holds one while it retrieves."""
    top_k = body.top_k if body.top_k is not None else services.settings.retrieval.answer_passages
    request = await run_in_threadpool(
        _request, http, services, principal, body.question, body, top_k
    )
    async with slots.hold(http):
        prepared = await run_in_threadpool(services.answers.prepare, request, principal.name)
        await run_in_threadpool(_remember, services, prepared.query_id, principal, request)
        if not body.stream:
            answer = await run_in_threadpool(services.answers.answer, prepared)
    if body.stream:
        return StreamingResponse(
            _sse(services.answers.stream(prepared)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return QueryResponse.model_validate(
        {**asdict(answer), "groundedness": answer.groundedness.score, "grounded": answer.grounded}
    )

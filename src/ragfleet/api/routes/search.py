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
from ragfleet.api.middleware import log_collection
from ragfleet.api.schemas import HitPublic, QueryBody, QueryResponse, SearchBody, SearchResponse
from ragfleet.domain import SearchHit
from ragfleet.errors import RagfleetError
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
    return SearchRequest(
        query=query,
        collection=collection,
        top_k=body.top_k if body.top_k is not None else default_top_k,
        mode=SearchMode(body.mode or settings.retrieval.mode),
        filters=body.filters,
        groups=principal.groups,
    )


def _hit(hit: SearchHit) -> HitPublic:
    return HitPublic(
        **asdict(hit.location()), score=hit.score, text=hit.text, metadata=dict(hit.payload.meta)
    )


@router.post("/search", response_model=SearchResponse, operation_id="search")
def search(
    body: SearchBody, http: Request, services: ServicesDep, principal: PrincipalDep
) -> SearchResponse:
    top_k = services.settings.retrieval.top_k
    request = _request(http, services, principal, body.query, body, top_k)
    result = services.search.search(request)
    hits = [_hit(h) for h in result.hits]
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
    body: QueryBody, http: Request, services: ServicesDep, principal: PrincipalDep
) -> QueryResponse | StreamingResponse:
    top_k = body.top_k if body.top_k is not None else services.settings.retrieval.answer_passages
    request = _request(http, services, principal, body.question, body, top_k)
    prepared = await run_in_threadpool(services.answers.prepare, request, principal.name)
    if body.stream:
        return StreamingResponse(
            _sse(services.answers.stream(prepared)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    answer = await run_in_threadpool(services.answers.answer, prepared)
    return QueryResponse.model_validate(
        {**asdict(answer), "groundedness": answer.groundedness.score, "grounded": answer.grounded}
    )

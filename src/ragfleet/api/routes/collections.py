"""List collections and drop one with everything in it."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from ragfleet.api import API_PREFIX
from ragfleet.api.deps import PrincipalDep, ServicesDep
from ragfleet.api.schemas import CollectionPublic, ListEnvelope
from ragfleet.domain import validate_collection_name

router = APIRouter(prefix=f"{API_PREFIX}/collections", tags=["collections"])


@router.get("", response_model=ListEnvelope[CollectionPublic], operation_id="list_collections")
def list_collections(
    services: ServicesDep, principal: PrincipalDep
) -> ListEnvelope[CollectionPublic]:
    counts = services.registry.collection_counts(principal.groups)
    data = [CollectionPublic(name=name, documents=count) for name, count in counts.items()]
    return ListEnvelope[CollectionPublic](data=data, count=len(data))


@router.delete(
    "/{name}",
    status_code=204,
    response_class=Response,
    operation_id="drop_collection",
    responses={409: {"description": "A document of the collection is being ingested."}},
)
async def drop_collection(name: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Delete every document of the collection and its index (API keys without groups only)."""
    validate_collection_name(name)
    await run_in_threadpool(services.admission.drop_collection, name, principal.groups)
    return Response(status_code=204)

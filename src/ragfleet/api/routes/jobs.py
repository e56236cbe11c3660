"""Ingestion job status."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from ragfleet.api import API_PREFIX
from ragfleet.api.deps import Offset, PrincipalDep, ServicesDep
from ragfleet.api.schemas import JobPublic, ListEnvelope

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"])


@router.get("", response_model=ListEnvelope[JobPublic], operation_id="list_jobs")
def list_jobs(
    services: ServicesDep,
    principal: PrincipalDep,
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> ListEnvelope[JobPublic]:
    rows, total = services.registry.list_jobs(status, limit, offset, principal.groups)
    return ListEnvelope[JobPublic](data=[JobPublic.model_validate(r) for r in rows], count=total)


@router.get("/{job_id}", response_model=JobPublic, operation_id="get_job")
def get_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JobPublic:
    return JobPublic.model_validate(services.registry.get_job(job_id, principal.groups))


@router.post(
    "/{job_id}/retry",
    status_code=202,
    response_model=JobPublic,
    operation_id="retry_job",
    responses={409: {"description": "The job did not fail, or a later submission replaced it."}},
)
async def retry_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JobPublic:
    """Queue a failed job's document version again, as a new job."""
    job = await run_in_threadpool(services.admission.retry, job_id, principal.groups)
    return JobPublic.model_validate(job)


@router.post(
    "/{job_id}/cancel",
    response_model=JobPublic,
    operation_id="cancel_job",
    responses={409: {"description": "The job already ended."}},
)
async def cancel_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JobPublic:
    """Stop a queued or running job at its next step; the document's previous version stays
    searchable, and a cancelled job can be retried."""
    job = await run_in_threadpool(services.admission.cancel, job_id, principal.groups)
    return JobPublic.model_validate(job)

"""Ratings of answers: stored in the registry and counted, for the quality dashboards."""

from __future__ import annotations

from fastapi import APIRouter

from ragfleet.api import API_PREFIX
from ragfleet.api.deps import PrincipalDep, ServicesDep
from ragfleet.api.schemas import FeedbackCreate, FeedbackPublic
from ragfleet.telemetry import metrics

router = APIRouter(prefix=f"{API_PREFIX}/feedback", tags=["feedback"])


@router.post(
    "",
    status_code=201,
    response_model=FeedbackPublic,
    operation_id="create_feedback",
    responses={404: {"description": "No answer with this query_id was given to this key."}},
)
def create_feedback(
    body: FeedbackCreate, services: ServicesDep, principal: PrincipalDep
) -> FeedbackPublic:
    """Rate an answer the same API key asked for; any other query id is 404."""
    query_id = str(body.query_id)
    row = services.registry.add_feedback(query_id, principal.name, body.rating, body.comment)
    metrics.FEEDBACK.labels(body.rating).inc()
    return FeedbackPublic.model_validate(row)

"""Request and response models of the HTTP API."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ragfleet.domain import MetadataValue, validate_collection_name

T = TypeVar("T")

Collection = Annotated[str | None, Field(None, description="Collection; default if omitted.")]


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What went wrong, for a person.")


class ListEnvelope(BaseModel, Generic[T]):
    data: list[T]
    count: int = Field(description="Total number of items matching, across all pages.")


def _collection(value: str | None) -> str | None:
    return validate_collection_name(value) if value is not None else None


class DocumentCreate(BaseModel):
    """A document posted as JSON. Markdown headings and tables in ``text`` are honoured."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="The document text.")
    title: str | None = Field(None, max_length=1024)
    source: str | None = Field(
        None, max_length=2048, description="Stable identity: re-posting a source replaces it."
    )
    collection: Collection
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    acl: list[str] | None = Field(None, description="Groups allowed to read it; None: public.")

    _check_collection = field_validator("collection")(_collection)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
        return validate_metadata(value)


def validate_metadata(value: dict[str, Any]) -> dict[str, MetadataValue]:
    if len(value) > 64:
        raise ValueError("at most 64 metadata keys")
    for key, item in value.items():
        if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", key):
            raise ValueError(f"metadata key {key!r} must be 1-64 letters, digits or '_'")
        scalar = isinstance(item, str | int | float | bool)
        listed = isinstance(item, list) and all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in item
        )
        if not (scalar or listed):
            raise ValueError(f"metadata {key!r}: use a string, number, boolean or list of them")
    return value


class AcceptedPublic(BaseModel):
    document_id: str
    job_id: str
    status: Literal["queued", "succeeded"] = Field(
        description="succeeded: identical content was already indexed (nothing to do)."
    )


class DocumentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    collection: str
    source: str
    title: str
    status: str
    version: str | None
    chunk_count: int
    error: str | None
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    acl: list[str]
    created_at: datetime
    updated_at: datetime


class CollectionPublic(BaseModel):
    name: str
    documents: int = Field(description="Documents in it (those the API key can read).")


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    document_id: str
    collection: str
    status: Literal["queued", "running", "succeeded", "failed"]
    stage: str = Field(
        description="queued, chunking, embedding, indexing, done; retrying or requeued after a "
        "fault; unchanged for a no-op re-submission."
    )
    progress: float = Field(description="0 to 1.")
    attempts: int = Field(description="Times a runner started the job.")
    error: str | None = Field(description="Why it failed, or the fault it is being retried for.")
    worker: str | None = Field(None, description="The worker running it (queue mode).")
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None = Field(None, description="Last progress report.")
    finished_at: datetime | None


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, description="What to look for.")
    top_k: int | None = Field(None, description="Hits to return (1 to retrieval.max_top_k).")
    mode: Literal["hybrid", "dense", "sparse"] | None = None
    filters: dict[str, Any] | None = Field(
        None,
        description='Metadata filters: {"lang": "en", "tags": ["a", "b"], "year": {"gte": 2020}}.',
    )
    collection: Collection

    _check_collection = field_validator("collection")(_collection)


class ChunkLocation(BaseModel):
    """Where a chunk comes from: shared by search hits and answer citations."""

    document_id: str
    chunk_id: str
    title: str
    section: str = Field(description="Heading path inside the document.")
    source: str
    page: int | None


class HitPublic(ChunkLocation):
    score: float
    text: str
    metadata: dict[str, Any]


class SearchResponse(ListEnvelope[HitPublic]):
    mode: str
    timings_ms: dict[str, float]


class QueryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    top_k: int | None = Field(None, description="Passages retrieved for the answer.")
    mode: Literal["hybrid", "dense", "sparse"] | None = None
    filters: dict[str, Any] | None = None
    collection: Collection
    stream: bool = Field(False, description="Answer as text/event-stream.")

    _check_collection = field_validator("collection")(_collection)


class CitationPublic(ChunkLocation):
    n: int = Field(description="The [n] marker in the answer.")
    snippet: str


class UsagePublic(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class QueryResponse(BaseModel):
    query_id: str
    answer: str
    mode: Literal["llm", "extractive"]
    fallback_reason: str | None = Field(description="Why the answer is extractive, if it is.")
    citations: list[CitationPublic]
    groundedness: float | None = Field(
        description="Share of sentences supported by cited passages; null when not scored."
    )
    grounded: bool | None = Field(
        description="False when groundedness is under the threshold; null when not scored."
    )
    usage: UsagePublic
    timings_ms: dict[str, float]


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query_id: uuid.UUID = Field(description="The query_id of the answer being rated.")
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=2000)


class FeedbackPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    query_id: str
    rating: str
    comment: str | None
    created_at: datetime


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]

"""Request and response models of the HTTP API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from ragfleet.domain import MetadataValue, validate_collection_name, validate_metadata

T = TypeVar("T")

Collection = Annotated[str | None, Field(None, description="Collection; default if omitted.")]


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; the registry writes UTC, so say so (RFC 3339)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_utc)]


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What went wrong, for a person.")
    request_id: str | None = Field(
        None, description="The request's X-Request-ID, to find its lines in the server log."
    )


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


class AcceptedPublic(BaseModel):
    document_id: str
    job_id: str
    status: Literal["queued", "succeeded"] = Field(
        description="succeeded: identical content was already indexed (nothing to do)."
    )
    source: str = Field(
        description="The document's source: for a file, its path relative to the upload root."
    )


class RefusedFilePublic(BaseModel):
    file: str = Field(description="The file's path as uploaded.")
    code: str
    message: str = Field(description="Why the file was refused; it names the file.")


class UploadResponse(ListEnvelope[AcceptedPublic]):
    refused: list[RefusedFilePublic] = Field(
        default_factory=list,
        description="Files of a multipart upload that were refused, each with the reason; the "
        "other files are accepted.",
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
    created_at: UtcDateTime
    updated_at: UtcDateTime


class CollectionPublic(BaseModel):
    name: str
    documents: int = Field(description="Documents in it (those the API key can read).")


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    document_id: str
    collection: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    stage: str = Field(
        description="queued, chunking, embedding, indexing, done; retrying or requeued after a "
        "fault; unchanged for a no-op re-submission."
    )
    progress: float = Field(description="0 to 1.")
    attempts: int = Field(description="Times a runner started the job.")
    error: str | None = Field(description="Why it failed, or the fault it is being retried for.")
    worker: str | None = Field(None, description="The worker running it (queue mode).")
    created_at: UtcDateTime
    started_at: UtcDateTime | None
    heartbeat_at: UtcDateTime | None = Field(None, description="Last progress report.")
    finished_at: UtcDateTime | None


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
    injection_suspected: bool = Field(
        False,
        description="The chunk holds instruction-like text (possible prompt injection), "
        "flagged at ingest.",
    )


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
    created_at: UtcDateTime


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "unavailable"]
    checks: dict[str, str]

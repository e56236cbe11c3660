"""Search hits and chunk payloads for tests that need only a few of the payload's fields."""

from __future__ import annotations

from ragfleet.domain import ChunkPayload, SearchHit


def chunk_payload(document_id: str, **fields: object) -> ChunkPayload:
    """The other fields read as empty, as for a stored payload that lacks them."""
    return ChunkPayload.from_dict({"document_id": document_id, **fields})


def search_hit(score: float, point_id: str, document_id: str, **fields: object) -> SearchHit:
    return SearchHit(score, point_id, chunk_payload(document_id, **fields))

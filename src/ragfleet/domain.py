"""Plain data passed between the pipeline stages, independent of HTTP and storage."""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ragfleet.errors import BadInputError

PUBLIC_GROUP = "*"  # the ACL group of documents ingested without an acl
ANONYMOUS = "anonymous"  # the caller (and tenant) when no API keys are configured

# Namespace of every ragfleet UUID: the same inputs give the same ids on every machine.
ID_NAMESPACE = uuid.UUID("6b1f3c1e-9c51-4c1a-8f0e-3f4a2d7c9b10")

MetadataValue = str | int | float | bool | list[str] | list[int]

# Collection names become Qdrant collection names and directory names.
COLLECTION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


MAX_METADATA_KEYS = 64
MAX_METADATA_TEXT = 4096  # characters of one string value
MAX_METADATA_LIST = 256  # items of one list value
_METADATA_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")


def validate_metadata(value: dict[str, Any]) -> dict[str, MetadataValue]:
    """User metadata as the store indexes it: bounded keys, finite numbers, flat values.
    Applied to every way a document arrives (JSON body, form field, JSON/JSONL files, CLI)."""
    if len(value) > MAX_METADATA_KEYS:
        raise BadInputError(f"at most {MAX_METADATA_KEYS} metadata keys ({len(value)} given)")
    for key, item in value.items():
        if not _METADATA_KEY.fullmatch(key):
            raise BadInputError(f"metadata key {key!r} must be 1-64 letters, digits or '_'")
        items = item if isinstance(item, list) else [item]
        if isinstance(item, list) and len(item) > MAX_METADATA_LIST:
            raise BadInputError(f"metadata {key!r}: at most {MAX_METADATA_LIST} list items")
        for element in items:
            _check_metadata_value(key, element, listed=isinstance(item, list))
    return value


def _check_metadata_value(key: str, value: object, *, listed: bool) -> None:
    allowed = (str, int) if listed else (str, int, float, bool)
    if not isinstance(value, allowed) or (listed and isinstance(value, bool)):
        raise BadInputError(f"metadata {key!r}: use a string, number, boolean or list of them")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInputError(f"metadata {key!r}: numbers must be finite")
    if isinstance(value, str) and len(value) > MAX_METADATA_TEXT:
        raise BadInputError(f"metadata {key!r}: strings take at most {MAX_METADATA_TEXT} chars")


def utcnow() -> datetime:
    """The registry's clock: timezone-aware UTC."""
    return datetime.now(UTC)


def validate_collection_name(value: str) -> str:
    """The name unchanged, or ``BadInputError`` (a ``ValueError``, so pydantic fields use it)."""
    if not COLLECTION_NAME.fullmatch(value):
        raise BadInputError(
            "collection names are 1-63 characters of a-z, 0-9, '_' and '-', "
            "starting with a letter or digit"
        )
    return value


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    TABLE = "table"
    CODE = "code"


@dataclass(frozen=True, slots=True)
class Block:
    """One structural unit of a parsed document. Tables and code are never split."""

    kind: BlockKind
    text: str
    level: int = 0
    page: int | None = None

    @property
    def atomic(self) -> bool:
        return self.kind in (BlockKind.TABLE, BlockKind.CODE)


@dataclass(slots=True)
class ParsedDocument:
    """A document as parsed from a file or a JSON body, before chunking."""

    title: str
    source: str
    blocks: list[Block]
    metadata: dict[str, MetadataValue] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(block.text for block in self.blocks)

    def content_hash(self) -> str:
        digest = hashlib.sha256()
        digest.update(self.title.encode())
        for block in self.blocks:
            digest.update(b"\x00" + block.kind.value.encode() + b"\x00" + block.text.encode())
        return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable piece of a document with the heading path that locates it."""

    index: int
    text: str
    section: str
    page: int | None


@dataclass(frozen=True, slots=True)
class SparseVector:
    indices: list[int]
    values: list[float]


@dataclass(frozen=True, slots=True)
class ChunkPayload:
    """What the vector store keeps beside a chunk's vectors. The keys of ``to_dict`` are the
    stored layout (filters and payload indexes name them), so they must not change."""

    document_id: str
    chunk_index: int
    version: str
    collection: str
    source: str
    title: str
    section: str
    page: int | None
    acl: tuple[str, ...]
    text: str
    meta: Mapping[str, MetadataValue]
    indexed_at: str  # ISO 8601, UTC
    # Instruction-like text found at ingest (ragfleet.security.injection): shown, maybe excluded.
    injection_suspected: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "document_id": self.document_id,
            "chunk_index": self.chunk_index,
            "version": self.version,
            "collection": self.collection,
            "source": self.source,
            "title": self.title,
            "section": self.section,
            "page": self.page,
            "acl": list(self.acl),
            "text": self.text,
            "meta": dict(self.meta),
            "indexed_at": self.indexed_at,
            "injection_suspected": self.injection_suspected,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ChunkPayload:
        """A stored payload. Only ``document_id`` is required: any other missing key reads as
        empty, as the dict readers before this class did."""
        meta = data.get("meta")
        acl = data.get("acl")
        return cls(
            document_id=str(data["document_id"]),
            chunk_index=_int(data.get("chunk_index")) or 0,
            version=_str(data.get("version")),
            collection=_str(data.get("collection")),
            source=_str(data.get("source")),
            title=_str(data.get("title")),
            section=_str(data.get("section")),
            page=_int(data.get("page")),
            acl=tuple(str(group) for group in acl) if isinstance(acl, list) else (),
            text=_str(data.get("text")),
            meta={str(k): v for k, v in meta.items()} if isinstance(meta, dict) else {},
            indexed_at=_str(data.get("indexed_at")),
            injection_suspected=data.get("injection_suspected") is True,
        )


def _str(value: object) -> str:
    return "" if value is None else str(value)


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float | str) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """Where a hit comes from, as search hits and answer citations both show it (citations
    extend it)."""

    document_id: str
    chunk_id: str
    title: str
    section: str
    source: str
    page: int | None
    injection_suspected: bool = False


@dataclass(slots=True)
class IndexedChunk:
    """A chunk with its vectors and payload, ready for the vector store."""

    point_id: str
    dense: list[float]
    sparse: SparseVector
    payload: ChunkPayload


@dataclass(slots=True)
class SearchHit:
    score: float
    point_id: str
    payload: ChunkPayload

    @property
    def document_id(self) -> str:
        return self.payload.document_id

    @property
    def text(self) -> str:
        return self.payload.text

    def location(self) -> Location:
        """The one place a hit's location is built, for search results and citations alike."""
        p = self.payload
        return Location(
            document_id=p.document_id,
            chunk_id=self.point_id,
            title=p.title,
            section=p.section,
            source=p.source,
            page=p.page,
            injection_suspected=p.injection_suspected,
        )


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DocumentStatus(StrEnum):
    PENDING = "pending"
    INDEXED = "indexed"
    FAILED = "failed"


def heading_path(title: str, section: str) -> str:
    """Title and heading path without repeating a title that is also the first heading."""
    if not section or section == title:
        return title
    if not title or section.startswith(f"{title} > "):
        return section
    return f"{title} > {section}"


def document_id(
    collection: str, source: str | None, content_hash: str, owner: Sequence[str] | None = None
) -> str:
    """Documents with a source are identified by it (so re-ingest replaces), else by content.

    ``owner`` is the writing key's ACL groups when it has any: each tenant's sources are its
    own, so two tenants posting ``guide.md`` get two documents, and no answer to a write can
    tell a tenant that another one holds a source. Keys without groups (operators, the CLI)
    share one namespace."""
    key = f"source:{source}" if source else f"content:{content_hash}"
    if owner is not None:
        key += "\x00owner:" + ",".join(sorted(set(owner)))
    return str(uuid.uuid5(ID_NAMESPACE, f"{collection}\x00{key}"))


def chunk_point_id(doc_id: str, version: str, index: int) -> str:
    """Chunk ids include the content version so a new version never overwrites the live one."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{doc_id}\x00{version}\x00{index}"))

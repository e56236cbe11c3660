"""Plain data passed between the pipeline stages, independent of HTTP and storage."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

PUBLIC_GROUP = "*"  # the ACL group of documents ingested without an acl
ANONYMOUS = "anonymous"  # the caller (and tenant) when no API keys are configured

# Namespace of every ragfleet UUID: the same inputs give the same ids on every machine.
ID_NAMESPACE = uuid.UUID("6b1f3c1e-9c51-4c1a-8f0e-3f4a2d7c9b10")

MetadataValue = str | int | float | bool | list[str] | list[int]


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


@dataclass(slots=True)
class IndexedChunk:
    """A chunk with its vectors and payload, ready for the vector store."""

    point_id: str
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any]


@dataclass(slots=True)
class SearchHit:
    score: float
    point_id: str
    payload: dict[str, Any]

    @property
    def document_id(self) -> str:
        return str(self.payload["document_id"])

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


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


def document_id(collection: str, source: str | None, content_hash: str) -> str:
    """Documents with a source are identified by it (so re-ingest replaces), else by content."""
    key = f"source:{source}" if source else f"content:{content_hash}"
    return str(uuid.uuid5(ID_NAMESPACE, f"{collection}\x00{key}"))


def chunk_point_id(doc_id: str, version: str, index: int) -> str:
    """Chunk ids include the content version so a new version never overwrites the live one."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{doc_id}\x00{version}\x00{index}"))

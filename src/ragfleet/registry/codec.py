"""How a parsed document and its ACL are stored in a job's payload, so that any worker can run
the job."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ragfleet.domain import Block, BlockKind, ParsedDocument


@dataclass(slots=True)
class PendingIngest:
    """A parsed document accepted for indexing."""

    document_id: str
    collection: str
    version: str
    document: ParsedDocument
    acl: list[str]


def encode_document(document: ParsedDocument, acl: list[str]) -> bytes:
    blocks = [[b.kind.value, b.text, b.level, b.page] for b in document.blocks]
    body = {
        "title": document.title,
        "source": document.source,
        "blocks": blocks,
        "metadata": document.metadata,
        "acl": acl,
    }
    return json.dumps(body, ensure_ascii=False).encode()


def decode_document(data: bytes) -> tuple[ParsedDocument, list[str]]:
    body = json.loads(data)
    blocks = [
        Block(BlockKind(kind), text, level, page) for kind, text, level, page in body["blocks"]
    ]
    return ParsedDocument(body["title"], body["source"], blocks, body["metadata"]), body["acl"]

"""Document versions: what makes a new version, and removing the versions a document left.

Versions never overwrite each other: chunk ids include the version, a hash of the content, the
ACL, the metadata and the chunking settings. The new version is upserted in full before the old
one is deleted, so a failure at any point leaves the previous version searchable, and a retry
re-writes the same ids.
"""

from __future__ import annotations

import hashlib
import json
import logging

from ragfleet.domain import ParsedDocument
from ragfleet.errors import RagfleetError
from ragfleet.ingest.chunker import Chunker
from ragfleet.retrieval.store import VectorStore, document_filter

logger = logging.getLogger(__name__)


def document_version(document: ParsedDocument, acl: list[str], chunker: Chunker) -> str:
    """Everything that shapes the indexed points: a change to any of it is a new version."""
    digest = hashlib.sha256(document.content_hash().encode())
    shape = [acl, document.metadata, chunker.target, chunker.overlap]
    digest.update(json.dumps(shape, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def retire(store: VectorStore, collection: str, doc_id: str, keep: str | None) -> None:
    """Best effort: delete the document's points other than version ``keep`` (all if None)."""
    try:
        store.delete(collection, document_filter(doc_id, except_version=keep))
    except RagfleetError as exc:
        logger.warning("could not retire old chunks of %s: %s", doc_id, exc.message)

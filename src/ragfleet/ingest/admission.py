"""Admission: which documents may be written by whom, and recording their jobs.

One path for every front door (the documents and jobs routes, the CLI): check the queue has
room, record the jobs atomically (an identical version already indexed is a no-op), then hand
the queued ones to the runner. Jobs are recorded before they are queued, so an accepted job is
never lost; the capacity bound is soft when requests race.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ragfleet.domain import (
    PUBLIC_GROUP,
    DocumentStatus,
    JobStatus,
    ParsedDocument,
    document_id,
    validate_metadata,
)
from ragfleet.errors import (
    BadInputError,
    ConflictError,
    EmptyDocumentError,
    ForbiddenError,
    NotFoundError,
    OverloadedError,
)
from ragfleet.ingest.chunker import Chunker
from ragfleet.ingest.versions import document_version, retire
from ragfleet.registry.repository import PendingIngest, Registry
from ragfleet.registry.tables import DocumentRow, JobRow
from ragfleet.retrieval.store import VectorStore, document_filter

MAX_ACL_GROUPS = 64
MAX_GROUP_LENGTH = 256  # the registry's column width


class JobQueue(Protocol):
    """The part of a job runner admission needs."""

    def has_capacity(self, jobs: int) -> bool: ...

    def submit(self, job_ids: Sequence[str]) -> None: ...


def validate_acl(acl: Sequence[str] | None) -> list[str]:
    """The document's groups, sorted and unique; none given means public."""
    groups = sorted(set(acl)) if acl else [PUBLIC_GROUP]
    if len(groups) > MAX_ACL_GROUPS:
        raise BadInputError(f"acl has {len(groups)} groups; at most {MAX_ACL_GROUPS} are allowed")
    for group in groups:
        if not group.strip() or len(group) > MAX_GROUP_LENGTH:
            raise BadInputError(f"acl group names take 1 to {MAX_GROUP_LENGTH} characters")
    return groups


def covers(caller_groups: Sequence[str] | None, acl: Sequence[str]) -> bool:
    """Whether a caller may write a document shared with ``acl``: it must belong to every group
    (so a key cannot widen or narrow others' sharing); public documents are writable by all."""
    return caller_groups is None or set(acl) <= {*caller_groups, PUBLIC_GROUP}


@dataclass(slots=True)
class Accepted:
    document_id: str
    job_id: str
    status: JobStatus


class Admission:
    """Accept, retry and remove documents on behalf of a caller (``caller_groups`` None:
    unrestricted)."""

    def __init__(
        self, *, registry: Registry, store: VectorStore, chunker: Chunker, queue: JobQueue
    ) -> None:
        self.registry = registry
        self.store = store
        self.chunker = chunker
        self.queue = queue

    def submit(
        self,
        documents: Sequence[ParsedDocument],
        collection: str,
        acl: list[str] | None,
        caller_groups: Sequence[str] | None = None,
        may_narrow_public: bool = True,
    ) -> list[Accepted]:
        """Record and queue jobs for the documents; 503 (nothing recorded) when the queue is
        full."""
        if not self.queue.has_capacity(len(documents)):
            raise OverloadedError("the ingestion queue is full; retry later", retry_after=5)
        accepted = self.accept(documents, collection, acl, caller_groups, may_narrow_public)
        self.queue.submit([a.job_id for a in accepted if a.status is JobStatus.QUEUED])
        return accepted

    def accept(
        self,
        documents: Sequence[ParsedDocument],
        collection: str,
        acl: list[str] | None,
        caller_groups: Sequence[str] | None = None,
        may_narrow_public: bool = True,
    ) -> list[Accepted]:
        """Record a job per changed document; an identical version already indexed is a no-op.

        ``caller_groups`` (None: unrestricted) must cover the requested ACL and every existing
        document being replaced; restricting a public document needs ``may_narrow_public``
        (the admin scope), or one key could hide it from everyone else. Raises
        ``ConflictError`` (nothing recorded) when any document has a job in flight.
        """
        groups = validate_acl(acl)
        if not covers(caller_groups, groups):
            raise ForbiddenError("the acl names groups this API key does not belong to")
        pending = self._pending(documents, collection, groups, caller_groups)
        ids = [p.document_id for p in pending]
        existing = self.registry.find_documents(ids)
        if any(not covers(caller_groups, row.acl) for row in existing.values()):
            # The same words whatever the reason, naming no document the key cannot read.
            raise ForbiddenError("this API key may not write a document with this source")
        narrowing = groups != [PUBLIC_GROUP] and not may_narrow_public
        if narrowing and any(row.acl == [PUBLIC_GROUP] for row in existing.values()):
            raise ForbiddenError(
                "only an API key with the admin scope may restrict a public document"
            )
        in_flight = self.registry.active_jobs(ids)
        if in_flight:
            doc_id, job = next(iter(in_flight.items()))
            raise ConflictError(f"document {doc_id} is already being ingested by job {job.id}")
        results: dict[str, Accepted] = {}
        changed: list[PendingIngest] = []
        for item in pending:
            row = existing.get(item.document_id)
            unchanged = (
                row is not None
                and row.status == DocumentStatus.INDEXED.value
                and row.version == item.version
            )
            if unchanged and row is not None:
                # Old versions a failed clean-up left behind go now (a no-op when there are none).
                retire(self.store, row.collection, row.id, keep=row.version)
                job = self.registry.record_unchanged(row)
                results[item.document_id] = Accepted(row.id, job.id, JobStatus.SUCCEEDED)
            else:
                changed.append(item)
        for job in self.registry.enqueue(changed):
            results[job.document_id] = Accepted(job.document_id, job.id, JobStatus.QUEUED)
        return [results[i] for i in ids]

    def _pending(
        self,
        documents: Sequence[ParsedDocument],
        collection: str,
        acl: list[str],
        owner: Sequence[str] | None,
    ) -> list[PendingIngest]:
        """Identify and version each document; refuse empty ones and duplicates."""
        pending: list[PendingIngest] = []
        for doc in documents:
            name = doc.source or doc.title
            if not doc.text.strip():
                raise EmptyDocumentError(f"document {name!r} has no text")
            try:
                validate_metadata(doc.metadata)
            except BadInputError as exc:
                raise BadInputError(f"document {name!r}: {exc.message}") from exc
            doc_id = document_id(collection, doc.source or None, doc.content_hash(), owner)
            version = document_version(doc, acl, self.chunker)
            pending.append(PendingIngest(doc_id, collection, version, doc, acl))
        if len({p.document_id for p in pending}) != len(pending):
            raise BadInputError("the request holds the same document twice (same source)")
        return pending

    def retry(self, job_id: str, caller_groups: Sequence[str] | None = None) -> JobRow:
        """A new queued job for a failed one; the caller must be allowed to write the document."""
        if not self.queue.has_capacity(1):
            raise OverloadedError("the ingestion queue is full; retry later", retry_after=5)
        failed = self.registry.get_job(job_id, caller_groups)
        self._writable(failed.document_id, caller_groups)
        job = self.registry.retry_job(job_id)
        self.queue.submit([job.id])
        return job

    def _writable(self, doc_id: str, caller_groups: Sequence[str] | None) -> DocumentRow:
        """The document if the caller may change it: 404 when unreadable, 403 when shared with
        groups the caller lacks."""
        row = self.registry.get_document(doc_id, caller_groups)
        if not covers(caller_groups, row.acl):
            raise ForbiddenError(
                f"document {doc_id} is shared with groups this API key does not belong to"
            )
        return row

    def drop_collection(self, name: str, caller_groups: Sequence[str] | None = None) -> int:
        """Remove a collection's documents and its index; returns the documents removed.

        The registry goes first: if the store then fails, calling again finishes the drop
        (the reverse order could leave documents listed as indexed with no points).
        """
        if caller_groups is not None:
            raise ForbiddenError("only an API key without groups may drop a collection")
        removed = self.registry.delete_collection(name)
        if not removed and not self.store.has_collection(name):
            raise NotFoundError(f"collection {name} not found")
        self.store.drop_collection(name)
        return removed

    def delete(self, doc_id: str, caller_groups: Sequence[str] | None = None) -> None:
        """Remove a document from the registry and its chunks from the index; a job still
        ingesting it is cancelled first (its run stops and removes what it wrote)."""
        row = self._writable(doc_id, caller_groups)
        for job in self.registry.active_jobs([doc_id]).values():
            self.registry.cancel_job(job.id)
        self.store.delete(row.collection, document_filter(doc_id))
        self.registry.delete_document(doc_id)

    def cancel(self, job_id: str, caller_groups: Sequence[str] | None = None) -> JobRow:
        """Stop a queued or running job; the previous version of its document stays
        searchable. 409 when the job already ended."""
        job = self.registry.get_job(job_id, caller_groups)
        self._writable(job.document_id, caller_groups)
        if not self.registry.cancel_job(job_id):
            raise ConflictError(f"job {job_id} is {job.status}; only active jobs are cancelled")
        return self.registry.get_job(job_id)

"""Reads and deletions of documents and collections, filtered by the caller's ACL groups."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, case, delete, func, select
from sqlalchemy.orm import Session

from ragfleet.domain import DocumentStatus
from ragfleet.errors import ConflictError, NotFoundError
from ragfleet.registry.access import Groups, visible_ids
from ragfleet.registry.database import Database
from ragfleet.registry.tables import (
    ACTIVE_JOB_STATES,
    DocumentGroupRow,
    DocumentRow,
    JobPayloadRow,
    JobRow,
)


class DocumentStore(Database):
    def get_document(self, document_id: str, groups: Groups = None) -> DocumentRow:
        """The document, or ``NotFoundError`` when it is missing or not readable."""
        query = select(DocumentRow).where(DocumentRow.id == document_id)
        if groups is not None:
            query = query.where(DocumentRow.id.in_(visible_ids(groups)))
        with self.session() as session:
            row = session.scalars(query).first()
        if row is None:
            raise NotFoundError(f"document {document_id} not found")
        return row

    def find_documents(self, ids: Sequence[str]) -> dict[str, DocumentRow]:
        with self.session() as session:
            rows = session.scalars(select(DocumentRow).where(DocumentRow.id.in_(ids))).all()
        return {row.id: row for row in rows}

    def list_documents(
        self, collection: str | None, limit: int, offset: int, groups: Groups = None
    ) -> tuple[list[DocumentRow], int]:
        query = select(DocumentRow)
        if collection:
            query = query.where(DocumentRow.collection == collection)
        if groups is not None:
            query = query.where(DocumentRow.id.in_(visible_ids(groups)))
        return self.page(query.order_by(DocumentRow.created_at, DocumentRow.id), limit, offset)

    def delete_document(self, document_id: str) -> None:
        """Remove the document with its ACL groups, jobs and job payloads."""
        with self.session() as session:
            if session.get(DocumentRow, document_id) is None:
                raise NotFoundError(f"document {document_id} not found")
            _purge(session, select(DocumentRow.id).where(DocumentRow.id == document_id))

    def collection_counts(self, groups: Groups = None) -> dict[str, int]:
        """Documents per collection (readable ones only, with ``groups``)."""
        query = select(DocumentRow.collection, func.count()).group_by(DocumentRow.collection)
        if groups is not None:
            query = query.where(DocumentRow.id.in_(visible_ids(groups)))
        with self.session() as session:
            rows = session.execute(query.order_by(DocumentRow.collection)).all()
            return dict(rows)

    def has_readable(self, collection: str, groups: Sequence[str]) -> bool:
        """Whether the collection holds a document readable with ``groups`` (one indexed
        lookup, for a per-request check)."""
        query = select(DocumentRow.id).where(
            DocumentRow.collection == collection, DocumentRow.id.in_(visible_ids(groups))
        )
        with self.session() as session:
            return session.scalar(query.limit(1)) is not None

    def indexed_counts(self) -> dict[str, int]:
        """Indexed documents per collection, and 0 for collections with only other documents
        (pending or failed), so a collection the registry knows is always listed."""
        indexed = func.sum(case((DocumentRow.status == DocumentStatus.INDEXED.value, 1), else_=0))
        query = select(DocumentRow.collection, indexed).group_by(DocumentRow.collection)
        with self.session() as session:
            return {name: int(count or 0) for name, count in session.execute(query).all()}

    def indexed_documents(self, collection: str) -> list[DocumentRow]:
        query = select(DocumentRow).where(
            DocumentRow.collection == collection,
            DocumentRow.status == DocumentStatus.INDEXED.value,
        )
        with self.session() as session:
            return list(session.scalars(query.order_by(DocumentRow.source)).all())

    def delete_collection(self, collection: str) -> int:
        """Remove every document of a collection with its jobs; refused while one is in flight.
        Returns the number of documents removed."""
        documents = select(DocumentRow.id).where(DocumentRow.collection == collection)
        jobs = select(JobRow.id).where(JobRow.document_id.in_(documents))
        with self.session() as session:
            active = session.scalars(
                select(JobRow).where(JobRow.id.in_(jobs), JobRow.status.in_(ACTIVE_JOB_STATES))
            ).first()
            if active is not None:
                raise ConflictError(
                    f"collection {collection} has job {active.id} in flight; retry when it ends"
                )
            count = session.scalar(select(func.count()).select_from(documents.subquery())) or 0
            _purge(session, documents)
        return count


def _purge(session: Session, documents: Select[str]) -> None:
    """Delete these documents with their ACL groups, jobs and job payloads."""
    ids = list(session.scalars(documents))
    jobs = select(JobRow.id).where(JobRow.document_id.in_(ids))
    session.execute(delete(JobPayloadRow).where(JobPayloadRow.job_id.in_(jobs)))
    session.execute(delete(JobRow).where(JobRow.document_id.in_(ids)))
    session.execute(delete(DocumentGroupRow).where(DocumentGroupRow.document_id.in_(ids)))
    session.execute(delete(DocumentRow).where(DocumentRow.id.in_(ids)))

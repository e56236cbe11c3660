"""Document ACLs in SQL: the groups a caller reads with, the filter they imply and the rows that
store a document's groups. Both the document and the job queries filter by them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from ragfleet.domain import PUBLIC_GROUP
from ragfleet.registry.tables import DocumentGroupRow

Groups = Sequence[str] | None  # a caller's ACL groups; None reads everything


def visible_ids(groups: Sequence[str]) -> Select[str]:
    """Ids of the documents readable with ``groups`` (public ones included)."""
    return select(DocumentGroupRow.document_id).where(
        DocumentGroupRow.group_name.in_([*groups, PUBLIC_GROUP])
    )


def set_groups(session: Session, document_id: str, acl: Sequence[str]) -> None:
    session.execute(delete(DocumentGroupRow).where(DocumentGroupRow.document_id == document_id))
    session.add_all(DocumentGroupRow(document_id=document_id, group_name=g) for g in set(acl))

"""Answered questions and the feedback on them. A rating is accepted only from the key that asked,
so one tenant can neither rate another's answers nor learn which query ids exist."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from ragfleet.errors import NotFoundError
from ragfleet.registry.database import Database
from ragfleet.registry.tables import FeedbackRow, QueryRow


class QueryStore(Database):
    def record_query(
        self, query_id: str, key_name: str, collection: str, question: str | None
    ) -> None:
        """Remember who asked; ``question`` is kept only when queries are retained."""
        row = QueryRow(id=query_id, key_name=key_name, collection=collection, question=question)
        with self.session() as session:
            session.add(row)

    def add_feedback(
        self, query_id: str, key_name: str, rating: str, comment: str | None
    ) -> FeedbackRow:
        """Store a rating of the caller's own answer; ``NotFoundError`` for any other query id,
        whether it is someone else's or does not exist."""
        row = FeedbackRow(
            id=str(uuid.uuid4()),
            query_id=query_id,
            rating=rating,
            comment=comment,
            key_name=key_name,
        )
        with self.session() as session:
            asker = session.scalar(select(QueryRow.key_name).where(QueryRow.id == query_id))
            if asker != key_name:
                raise NotFoundError(f"query {query_id} not found")
            session.add(row)
        return row

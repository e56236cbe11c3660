"""The public face of the registry: every state change of documents and jobs goes through
``Registry``, which joins the document, job and run stores over one database."""

from __future__ import annotations

from ragfleet.registry.access import Groups
from ragfleet.registry.codec import PendingIngest
from ragfleet.registry.documents import DocumentStore
from ragfleet.registry.jobs import JobStore
from ragfleet.registry.queries import QueryStore
from ragfleet.registry.runs import JobRuns

__all__ = ["Groups", "PendingIngest", "Registry"]


class Registry(DocumentStore, JobStore, JobRuns, QueryStore):
    """Documents, collections, jobs, queries and feedback in the SQL registry (one engine, one
    pool)."""

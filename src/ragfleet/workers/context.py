"""What a job needs to run, handed to the runners and Celery tasks at start.

Tasks get this narrow view, never the whole application: a worker process builds only the
registry, the vector store and the indexer (no search, no LLM clients).
"""

from __future__ import annotations

from dataclasses import dataclass

from ragfleet.ingest.indexer import Indexer
from ragfleet.registry.repository import Registry
from ragfleet.retrieval.store import VectorStore


@dataclass(frozen=True, slots=True)
class TaskContext:
    indexer: Indexer
    registry: Registry
    store: VectorStore

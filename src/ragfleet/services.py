"""Build every component from settings: the embedded default or the real services, one code path."""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass

from ragfleet.domain import ANONYMOUS
from ragfleet.embedding import Embedder, build_embedder
from ragfleet.generation.answerer import AnswerService, Pricing
from ragfleet.generation.extractive import ExtractiveAnswerer
from ragfleet.generation.grounding import GroundednessScorer
from ragfleet.generation.llm import ChatClient
from ragfleet.ingest.chunker import Chunker
from ragfleet.ingest.pipeline import IngestionService
from ragfleet.registry.repository import Registry
from ragfleet.retrieval.rerank import HttpReranker
from ragfleet.retrieval.search import SearchService
from ragfleet.retrieval.sparse import SparseEncoder
from ragfleet.retrieval.store import VectorStore
from ragfleet.settings import Settings
from ragfleet.telemetry.tracing import configure_tracing
from ragfleet.workers.celery_queue import CeleryQueue
from ragfleet.workers.inprocess import InProcessRunner
from ragfleet.workers.runner import JobRunner

logger = logging.getLogger(__name__)


def build_store(settings: Settings) -> VectorStore:
    if settings.qdrant.url:
        from qdrant_client import QdrantClient

        from ragfleet.retrieval.qdrant_store import QdrantVectorStore

        api_key = settings.qdrant.api_key.get_secret_value() if settings.qdrant.api_key else None
        if settings.qdrant.url.startswith("file://"):
            # qdrant-client's local mode: the server's API on a folder, one process at a time.
            client = QdrantClient(path=settings.qdrant.url.removeprefix("file://"))
        else:
            client = QdrantClient(
                url=settings.qdrant.url, api_key=api_key, timeout=int(settings.qdrant.timeout_s)
            )
        return QdrantVectorStore(client, settings.qdrant.collection_prefix)
    from ragfleet.retrieval.edge_store import EdgeVectorStore

    return EdgeVectorStore(settings.data_dir / "qdrant", settings.qdrant.collection_prefix)


@dataclass(slots=True)
class Services:
    settings: Settings
    registry: Registry
    store: VectorStore
    embedder: Embedder
    ingestion: IngestionService
    search: SearchService
    answers: AnswerService
    runner: JobRunner
    llm: ChatClient | None
    reranker: HttpReranker | None

    def close(self) -> None:
        self.runner.close()
        for closable in (self.llm, self.reranker, self.embedder, self.store, self.registry):
            if closable is not None:
                with suppress(Exception):
                    closable.close()


def build_services(
    settings: Settings, embedder: Embedder | None = None, *, run_jobs: bool = True
) -> Services:
    """Wire the components and apply migrations; with ``run_jobs`` this process also runs
    ingestion jobs (and picks up those an earlier process left unfinished)."""
    configure_tracing(settings.tracing)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    registry = Registry(settings.database_url, settings.database.pool_size)
    registry.migrate()
    store = build_store(settings)
    embedder = embedder or build_embedder(settings.embeddings)
    retrieval = settings.retrieval
    sparse = SparseEncoder(retrieval.bm25_k1, retrieval.bm25_b, retrieval.bm25_avg_len)
    chunker = Chunker(settings.chunking.target_tokens, settings.chunking.overlap_tokens)
    jobs = settings.jobs
    ingestion = IngestionService(
        registry,
        store,
        embedder,
        sparse,
        chunker,
        jobs.embed_batch,
        jobs.time_limit_s,
        jobs.max_attempts,
    )
    reranker = HttpReranker(settings.reranker) if settings.reranker.base_url else None
    search = SearchService(
        store, embedder, sparse, retrieval, reranker, settings.reranker.candidates
    )
    llm = ChatClient(settings.llm) if settings.llm.base_url else None
    grounding = GroundednessScorer(
        embedder, settings.quality.sentence_similarity, settings.quality.grounded_threshold
    )
    tenants = [key.name for key in settings.auth.api_keys] or [ANONYMOUS]
    pricing = Pricing(
        settings.llm.prompt_cost_per_1k_tokens, settings.llm.completion_cost_per_1k_tokens
    )
    pricing.register(tenants)
    answers = AnswerService(search, ExtractiveAnswerer(embedder, sparse), llm, grounding, pricing)
    runner = build_runner(settings, ingestion, store)
    logger.info(
        "ragfleet ready: store=%s registry=%s embeddings=%s llm=%s",
        "qdrant-server" if settings.qdrant.url else "qdrant-edge",
        settings.database_url.split(":", 1)[0],
        settings.embeddings.backend,
        "configured" if llm else "extractive",
    )
    services = Services(
        settings, registry, store, embedder, ingestion, search, answers, runner, llm, reranker
    )
    if isinstance(runner, CeleryQueue):
        runner.app.bind_services(lambda: services)
    if run_jobs:
        runner.start()
    return services


def build_runner(settings: Settings, ingestion: IngestionService, store: VectorStore) -> JobRunner:
    """In-process threads by default; Celery on Redis when ``redis.url`` is set. The process
    that owns the embedded store hosts the Celery worker itself (nothing else can open it)."""
    if not settings.redis.url:
        jobs = settings.jobs
        return InProcessRunner(
            ingestion,
            store,
            jobs.concurrency,
            jobs.batch_documents,
            jobs.queue_size,
            settings.worker_name,
        )
    from ragfleet.workers.celery_app import create_celery

    app = create_celery(settings)
    return CeleryQueue(app, settings.jobs.queue_size, host_worker=not settings.qdrant.url)

"""Build every component from settings: the embedded default or the real services, one code path."""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass
from typing import Protocol

from ragfleet.domain import ANONYMOUS
from ragfleet.embedding import Embedder, build_embedder
from ragfleet.generation.answerer import AnswerService, Pricing
from ragfleet.generation.extractive import ExtractiveAnswerer
from ragfleet.generation.grounding import GroundednessScorer
from ragfleet.generation.llm import ChatClient
from ragfleet.ingest.admission import Admission
from ragfleet.ingest.chunker import Chunker
from ragfleet.ingest.indexer import Indexer
from ragfleet.ingest.integrity import check_at_start
from ragfleet.ingest.sandbox import ParseSandbox
from ragfleet.registry.repository import Registry
from ragfleet.retrieval.fusion import Fusion, FusionMethod
from ragfleet.retrieval.rerank import HttpReranker
from ragfleet.retrieval.search import SearchService
from ragfleet.retrieval.sparse import SparseEncoder
from ragfleet.retrieval.store import CollectionOptions, VectorStore
from ragfleet.retrieval.tuning import FusionTable
from ragfleet.security.guard import PassageGuard
from ragfleet.security.ratelimit import RateLimits
from ragfleet.settings import Settings
from ragfleet.telemetry.tracing import configure_tracing
from ragfleet.workers.context import TaskContext
from ragfleet.workers.runner import JobRunner

logger = logging.getLogger(__name__)


class Closable(Protocol):
    def close(self) -> None: ...


def close_all(*parts: Closable | None) -> None:
    """Close each part in turn; one failing does not keep the others open."""
    for part in parts:
        if part is not None:
            with suppress(Exception):
                part.close()


def build_store(settings: Settings) -> VectorStore:
    options = CollectionOptions.from_settings(settings.qdrant)
    indexed = settings.retrieval.indexed_metadata
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
        return QdrantVectorStore(client, settings.qdrant.collection_prefix, indexed, options)
    from ragfleet.retrieval.edge_store import EdgeVectorStore

    return EdgeVectorStore(
        settings.data_dir / "qdrant", settings.qdrant.collection_prefix, indexed, options
    )


def open_stores(settings: Settings, *, check: bool = True) -> tuple[Registry, VectorStore]:
    """The registry (migrated) and the vector store. With ``check``, an embedded store that
    disagrees with the registry is refused (see ``ingest.integrity``); a server deployment
    leaves that to ``ragfleet doctor`` (its stores may be briefly unreachable at start)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    registry = Registry(settings.database_url, settings.database.pool_size)
    store: VectorStore | None = None
    try:
        registry.migrate()
        store = build_store(settings)
        if check and not settings.qdrant.url:
            check_at_start(registry, store, str(settings.data_dir / "qdrant"))
    except BaseException:
        close_all(store, registry)
        raise
    return registry, store


def build_task_context(settings: Settings, embedder: Embedder | None = None) -> TaskContext:
    """What running ingestion jobs needs (a worker builds only this), migrations applied."""
    configure_tracing(settings.tracing)
    registry, store = open_stores(settings)
    retrieval, jobs = settings.retrieval, settings.jobs
    indexer = Indexer(
        registry=registry,
        store=store,
        embedder=embedder or build_embedder(settings.embeddings),
        sparse=SparseEncoder(retrieval.bm25_k1, retrieval.bm25_b, retrieval.bm25_avg_len),
        chunker=Chunker(settings.chunking.target_tokens, settings.chunking.overlap_tokens),
        embed_batch=jobs.embed_batch,
        time_limit_s=jobs.time_limit_s,
        max_attempts=jobs.max_attempts,
    )
    return TaskContext(indexer=indexer, registry=registry, store=store)


def close_task_context(context: TaskContext) -> None:
    close_all(context.indexer.embedder, context.store, context.registry)


@dataclass(slots=True, kw_only=True)
class Services:
    settings: Settings
    tasks: TaskContext
    admission: Admission
    parser: ParseSandbox
    search: SearchService
    answers: AnswerService
    runner: JobRunner
    llm: ChatClient | None
    reranker: HttpReranker | None
    limits: RateLimits

    @property
    def registry(self) -> Registry:
        return self.tasks.registry

    @property
    def store(self) -> VectorStore:
        return self.tasks.store

    @property
    def indexer(self) -> Indexer:
        return self.tasks.indexer

    @property
    def embedder(self) -> Embedder:
        return self.tasks.indexer.embedder

    @property
    def guard(self) -> PassageGuard:
        return self.answers.guard

    def close(self) -> None:
        self.runner.close()
        close_all(self.parser, self.llm, self.reranker)
        close_task_context(self.tasks)


def build_answers(
    settings: Settings,
    search: SearchService,
    tasks: TaskContext,
    llm: ChatClient | None,
    limits: RateLimits,
) -> AnswerService:
    embedder = tasks.indexer.embedder
    quality = settings.quality
    grounding = GroundednessScorer(
        embedder, quality.sentence_similarity, quality.grounded_threshold, quality.relevance_floor
    )
    pricing = Pricing(
        settings.llm.prompt_cost_per_1k_tokens,
        settings.llm.completion_cost_per_1k_tokens,
        quota=limits.spend_tokens,
    )
    pricing.register([key.name for key in settings.auth.api_keys] or [ANONYMOUS])
    extractive = ExtractiveAnswerer(embedder, tasks.indexer.sparse)
    return AnswerService(
        search=search,
        extractive=extractive,
        llm=llm,
        grounding=grounding,
        pricing=pricing,
        guard=PassageGuard(settings.security),
    )


def build_fusion_table(settings: Settings) -> FusionTable:
    """Tuned fusion per collection, defaulting to the retrieval settings."""
    retrieval = settings.retrieval
    default = Fusion(
        FusionMethod(retrieval.fusion),
        retrieval.dense_weight,
        retrieval.sparse_weight,
        retrieval.rrf_k,
    )
    return FusionTable(settings.tuning_file, default)


def build_services(
    settings: Settings, embedder: Embedder | None = None, *, run_jobs: bool = True
) -> Services:
    """Wire the components and apply migrations; with ``run_jobs`` this process also runs
    ingestion jobs (and picks up those an earlier process left unfinished)."""
    tasks = build_task_context(settings, embedder)
    reranker = HttpReranker(settings.reranker) if settings.reranker.base_url else None
    search = SearchService(
        store=tasks.store,
        embedder=tasks.indexer.embedder,
        sparse=tasks.indexer.sparse,
        settings=settings.retrieval,
        fusions=build_fusion_table(settings),
        reranker=reranker,
        rerank_candidates=settings.reranker.candidates,
    )
    llm = ChatClient(settings.llm) if settings.llm.base_url else None
    runner = build_runner(settings, tasks)
    admission = Admission(
        registry=tasks.registry, store=tasks.store, chunker=tasks.indexer.chunker, queue=runner
    )
    logger.info(
        "ragfleet ready: store=%s registry=%s embeddings=%s llm=%s",
        "qdrant-server" if settings.qdrant.url else "qdrant-edge",
        settings.database_url.split(":", 1)[0],
        settings.embeddings.backend,
        "configured" if llm else "extractive",
    )
    limits = RateLimits(settings.limits, settings.redis)
    services = Services(
        settings=settings,
        tasks=tasks,
        admission=admission,
        parser=ParseSandbox(settings.parsing),
        search=search,
        answers=build_answers(settings, search, tasks, llm, limits),
        limits=limits,
        runner=runner,
        llm=llm,
        reranker=reranker,
    )
    if run_jobs:
        runner.start()
    return services


def build_runner(settings: Settings, tasks: TaskContext) -> JobRunner:
    """In-process threads by default; Celery on Redis when ``redis.url`` is set. The process
    that owns the embedded store hosts the Celery worker itself (nothing else can open it)."""
    jobs = settings.jobs
    if not settings.redis.url:
        from ragfleet.workers.inprocess import InProcessRunner

        return InProcessRunner(
            tasks,
            concurrency=jobs.concurrency,
            batch_documents=jobs.batch_documents,
            queue_size=jobs.queue_size,
            worker=settings.worker_name,
        )
    from ragfleet.workers.celery_app import create_celery
    from ragfleet.workers.celery_queue import CeleryQueue

    app = create_celery(settings, tasks)
    return CeleryQueue(app, queue_size=jobs.queue_size, host_worker=not settings.qdrant.url)

"""One settings object for every ragfleet process.

Defaults describe the embedded deployment: everything in one process under ``data_dir``. Setting a
URL switches that part to the real service (``RAGFLEET_QDRANT__URL``, ``RAGFLEET_DATABASE__URL``,
``RAGFLEET_LLM__BASE_URL``, ``RAGFLEET_EMBEDDINGS__BASE_URL``, ``RAGFLEET_RERANKER__BASE_URL``,
``RAGFLEET_REDIS__URL``).
Nested groups are addressed with a double underscore, and a ``.env`` file in the working directory
is read too. Kubernetes Secrets mounted under ``/run/secrets/ragfleet`` are read as files.
"""

from __future__ import annotations

import re
import socket
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AnyUrl,
    BaseModel,
    Field,
    GetCoreSchemaHandler,
    SecretStr,
    TypeAdapter,
    UrlConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema
from pydantic_settings import BaseSettings, SettingsConfigDict

from ragfleet.domain import validate_collection_name

SECRETS_DIR = Path("/run/secrets/ragfleet")
# PII types ragfleet detects offline: Presidio's pattern recognizers with checksums or context.
PiiEntity = Literal[
    "EMAIL_ADDRESS", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "PHONE_NUMBER", "IP_ADDRESS"
]
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "secret", "password", "example"})


class UrlOf:
    """Annotated metadata: validate a URL with pydantic's parser and these schemes. The field
    keeps the string as given (clients take strings, and the parser would add a trailing slash
    to bare hosts); ``ragfleet config`` shows the schemes."""

    __slots__ = ("_parser", "schemes")

    def __init__(self, *schemes: str) -> None:
        self.schemes = schemes
        self._parser = TypeAdapter(Annotated[AnyUrl, UrlConstraints(allowed_schemes=list(schemes))])

    def _check(self, value: str) -> str:
        self._parser.validate_python(value)
        return value

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))


HttpUrl = Annotated[str, UrlOf("http", "https")]
QdrantUrl = Annotated[str, UrlOf("http", "https", "file")]
DatabaseUrl = Annotated[str, UrlOf("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")]
RedisUrl = Annotated[str, UrlOf("redis", "rediss")]


class QdrantSettings(BaseModel):
    """Vector store. No URL: Qdrant Edge in-process under ``data_dir/qdrant``."""

    url: QdrantUrl | None = Field(
        None,
        description="Qdrant server URL, e.g. http://qdrant:6333; file:///path runs qdrant-client's "
        "local mode (one process at a time; for tests).",
    )
    api_key: SecretStr | None = Field(None, description="Qdrant API key.")
    collection_prefix: str = Field(
        "ragfleet_", description="Prefix of Qdrant collection names, one per ragfleet collection."
    )
    timeout_s: float = Field(10.0, gt=0, description="Per-request timeout against the server.")
    # Layout of new collections: fixed when a collection is created, so changing one of these
    # leaves existing collections as they are (re-index into a new collection to apply it).
    quantization: Literal["none", "scalar", "binary"] = Field(
        "none",
        description="Compressed copy of the dense vectors searched first: none, scalar (int8, "
        "4x smaller) or binary (1 bit, 32x smaller). New collections only; existing ones keep "
        "the layout they were created with.",
    )
    quantization_always_ram: bool = Field(
        False,
        description="Keep the quantized copy in RAM even when the vectors are on disk (set with "
        "vectors_on_disk). New collections only.",
    )
    vectors_on_disk: bool = Field(
        False,
        description="Serve the original dense vectors from disk (memory-mapped, read on demand) "
        "instead of RAM. New collections only.",
    )
    hnsw_m: int | None = Field(
        None,
        ge=4,
        le=128,
        description="HNSW edges per node (more: better recall, more memory); empty: the "
        "engine's default (16). New collections only.",
    )
    hnsw_ef_construct: int | None = Field(
        None,
        ge=4,
        le=2000,
        description="HNSW candidates while building the index (more: better graph, slower "
        "indexing); empty: the engine's default (100). New collections only.",
    )
    hnsw_ef: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="HNSW candidates per dense search (more: better recall, slower); empty: the "
        "engine's default. Applies to every dense search.",
    )
    rescore: bool = Field(
        True,
        description="While quantization is set, re-rank the candidates found in the quantized "
        "copy with the original vectors (better recall; reads the originals).",
    )
    oversampling: float = Field(
        1.0,
        ge=1.0,
        le=100.0,
        description="While quantization is set, take this many times the candidates from the "
        "quantized copy before rescoring.",
    )
    shard_number: int = Field(
        1,
        ge=1,
        le=1000,
        description="Shards of a new collection on a Qdrant server (a cluster wants at least one "
        "per node). New collections only; the embedded store has one shard.",
    )
    replication_factor: int = Field(
        1,
        ge=1,
        le=100,
        description="Copies of each shard on a Qdrant server cluster. New collections only; the "
        "embedded store keeps one copy.",
    )
    write_consistency_factor: int = Field(
        1,
        ge=1,
        le=100,
        description="Replicas that must confirm a write on a Qdrant server cluster (at most "
        "replication_factor). New collections only; the embedded store ignores it.",
    )

    @model_validator(mode="after")
    def _consistency(self) -> QdrantSettings:
        if self.write_consistency_factor > self.replication_factor:
            raise ValueError(
                "qdrant.write_consistency_factor cannot exceed qdrant.replication_factor: a "
                "write would wait for replicas that do not exist"
            )
        return self

    @field_validator("collection_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9_-]{0,32}", value):
            raise ValueError("use at most 32 characters from a-z, 0-9, '_' and '-'")
        return value


class DatabaseSettings(BaseModel):
    """SQL registry of documents and jobs. No URL: SQLite under ``data_dir``."""

    url: DatabaseUrl | None = Field(
        None, description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db."
    )
    pool_size: int = Field(5, ge=1, le=100, description="Connections kept per process.")


class EndpointSettings(BaseModel):
    """An OpenAI-compatible HTTP endpoint; each group below sets its own defaults."""

    base_url: HttpUrl | None = Field(
        None, description="Base URL ending in /v1, e.g. http://vllm:8000/v1."
    )
    model: str = Field(description="Model name sent to the endpoint.")
    api_key: SecretStr | None = Field(None, description="Bearer token for the endpoint.")
    timeout_s: float = Field(30.0, gt=0, le=600, description="Per-request timeout.")


class LLMSettings(EndpointSettings):
    """OpenAI-compatible chat completions (vLLM in production). No URL: extractive answers."""

    model: str = Field("meta-llama/Llama-3.1-8B-Instruct", description="Model name to request.")
    connect_timeout_s: float = Field(2.0, gt=0, le=60, description="Connection timeout.")
    max_tokens: int = Field(512, ge=1, le=32768, description="Answer length cap.")
    temperature: float = Field(0.1, ge=0, le=2, description="Sampling temperature.")
    prompt_cost_per_1k_tokens: float = Field(
        0.0, ge=0, description="Price of 1,000 prompt tokens, for the per-tenant cost metric."
    )
    completion_cost_per_1k_tokens: float = Field(
        0.0, ge=0, description="Price of 1,000 completion tokens, for the per-tenant cost metric."
    )
    wake_timeout_s: float = Field(
        0.0,
        ge=0,
        le=600,
        description="While the endpoint refuses connections (inference scaled to zero), hold an "
        "answer up to this long for it to wake instead of answering extractively; 0: never hold.",
    )
    wake_poll_s: float = Field(
        2.0, gt=0, le=60, description="How often a held answer probes the endpoint."
    )


class EmbeddingSettings(EndpointSettings):
    """Embedding backend: the bundled local model or any OpenAI-compatible /v1/embeddings."""

    backend: Literal["local", "openai"] = Field("local", description="local or openai.")
    model: str = Field("all-MiniLM-L6-v2", description="Model name sent to the endpoint.")
    dimensions: int | None = Field(
        None, ge=8, le=8192, description="Vector size; probed from the endpoint when unset."
    )
    batch_size: int = Field(64, ge=1, le=2048, description="Texts per embedding call.")
    batch_tokens: int = Field(
        256,
        ge=256,
        le=1_000_000,
        description="Local model: padded tokens per ingest sub-batch; queries go ahead of "
        "ingestion between sub-batches. Small runs are faster per token on a CPU (measured: "
        "about 1.3x from 4,096 down to 256, one full-length chunk) and bound memory.",
    )
    max_retries: int = Field(3, ge=0, le=10, description="Retries on transient endpoint errors.")
    threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description="CPU threads for the local model (default: the cores the process may use, "
        "within its container's CPU quota).",
    )
    batch_workers: int | None = Field(
        None,
        ge=1,
        le=256,
        description="Local ONNX model: ingest sub-batches encoded at once, each on one thread "
        "(default: `threads`, else the cores the process may use). Several small single-threaded "
        "runs get more out of each core than one multi-threaded run; torch always runs one.",
    )
    query_runtime: Literal["onnx", "torch"] = Field(
        "onnx",
        description="Local model runtime for search queries (onnx needs no torch once exported).",
    )
    batch_runtime: Literal["onnx", "torch"] = Field(
        "onnx", description="Local model runtime for ingestion and answer batches."
    )
    query_precision: Literal["float32", "int8"] = Field(
        "float32",
        description="Local ONNX model weights for search queries: float32, or int8 (faster on "
        "a CPU, vectors within a cosine of about 0.998 of the float ones). The torch runtime "
        "runs float32.",
    )
    batch_precision: Literal["float32", "int8"] = Field(
        "int8",
        description="Local ONNX model weights for ingestion and answer batches. int8 embeds "
        "about 1.8x the tokens per core-second here with the same retrieval quality on SciFact "
        "(README, Ingest); float32 for vectors identical to the reference model. The torch "
        "runtime runs float32.",
    )
    cache_dir: Path | None = Field(
        None,
        description="Where the local model's ONNX export is kept (default: ~/.cache/ragfleet).",
    )
    query_window_ms: float = Field(
        0.0,
        ge=0,
        le=100,
        description="How long a query waits for others to embed with it (0: only queries "
        "already queued join; on a CPU a batch costs about the sum of its queries).",
    )
    query_max_batch: int = Field(
        32, ge=1, le=1024, description="Most queries embedded in one micro-batch."
    )

    @model_validator(mode="after")
    def _remote_needs_url(self) -> EmbeddingSettings:
        if self.backend == "openai" and not self.base_url:
            raise ValueError("embeddings.base_url is required when embeddings.backend is openai")
        for lane in ("query", "batch"):
            if getattr(self, f"{lane}_runtime") == "onnx":
                continue
            # The default int8 is ignored on torch (build_embedder runs float); asked for, it fails.
            if f"{lane}_precision" in self.model_fields_set and (
                getattr(self, f"{lane}_precision") == "int8"
            ):
                raise ValueError(f"embeddings.{lane}_precision int8 needs {lane}_runtime onnx")
        return self


class RerankerSettings(EndpointSettings):
    """Optional rerank stage through an OpenAI-compatible /v1/rerank endpoint."""

    base_url: HttpUrl | None = Field(
        None, description="Base URL ending in /v1; unset disables rerank."
    )
    model: str = Field("BAAI/bge-reranker-base", description="Reranker model name.")
    timeout_s: float = Field(5.0, gt=0, le=120, description="Per-request timeout.")
    candidates: int = Field(30, ge=1, le=200, description="Hits sent to the reranker.")


class ChunkingSettings(BaseModel):
    """Structure-aware chunking. Tokens are words and punctuation marks."""

    target_tokens: int = Field(180, ge=16, le=4096, description="Chunk size to aim for.")
    overlap_tokens: int = Field(30, ge=0, le=1024, description="Carried over between chunks.")

    @model_validator(mode="after")
    def _overlap_smaller(self) -> ChunkingSettings:
        if self.overlap_tokens >= self.target_tokens:
            raise ValueError("chunking.overlap_tokens must be smaller than target_tokens")
        return self


class RetrievalSettings(BaseModel):
    """Search defaults and bounds."""

    indexed_metadata: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Metadata keys that get a payload index (filters on them stay fast at "
        'scale), as JSON: ["lang", "year"]. Other keys filter too, without an index.',
    )
    mode: Literal["hybrid", "dense", "sparse"] = Field("hybrid", description="Default mode.")
    top_k: int = Field(5, ge=1, le=100, description="Hits returned when the request names none.")
    max_top_k: int = Field(100, ge=1, le=1000, description="Largest top_k a request may ask for.")
    candidates: int = Field(100, ge=1, le=2000, description="Candidates per retriever in hybrid.")
    fusion: Literal["rrf", "dbsf", "weighted"] = Field(
        "rrf",
        description="Hybrid fusion for collections `ragfleet tune` has not tuned: reciprocal "
        "rank, distribution-based score, or weighted min-max score fusion.",
    )
    dense_weight: float = Field(1.0, ge=0, le=100, description="Fusion weight of dense candidates.")
    sparse_weight: float = Field(
        1.0, ge=0, le=100, description="Fusion weight of sparse candidates."
    )
    rrf_k: int = Field(60, ge=1, le=1000, description="RRF rank constant.")
    tuning_file: Path | None = Field(
        None,
        description="Per-collection fusion chosen by `ragfleet tune` (default: "
        "<data_dir>/fusion.json); read at start and when it changes.",
    )
    bm25_k1: float = Field(1.2, ge=0, le=10, description="BM25 term-frequency saturation.")
    bm25_b: float = Field(0.75, ge=0, le=1, description="BM25 length normalisation.")
    bm25_avg_len: float = Field(
        150.0, gt=0, description="Average chunk length in terms, used by BM25 normalisation."
    )
    max_query_chars: int = Field(2000, ge=16, le=100_000, description="Longest accepted query.")
    answer_passages: int = Field(5, ge=1, le=50, description="Passages given to the answerer.")


# For all-MiniLM-L6-v2: under every judged BEIR SciFact test question (lowest 0.334, `ragfleet
# eval floor`), over off-topic questions to the sample corpus (0.12-0.26). README, "Abstention".
RELEVANCE_FLOOR = 0.3


class QualitySettings(BaseModel):
    """Answer-quality signals."""

    sentence_similarity: float = Field(
        0.5, ge=0, le=1, description="Cosine similarity at which a passage supports a sentence."
    )
    grounded_threshold: float = Field(
        0.6, ge=0, le=1, description="Share of supported sentences below which grounded=false."
    )
    relevance_floor: float = Field(
        RELEVANCE_FLOOR,
        ge=-1,
        le=1,
        description="Best question-passage cosine similarity under which an answer abstains "
        "(grounded=false, no citations); set for the bundled model from BEIR SciFact "
        "(`ragfleet eval floor`); recalibrate for another embedding model. -1: never abstain.",
    )


class LimitSettings(BaseModel):
    """Upload bounds, rate limits and quotas; counted in Redis when redis.url is set (shared by
    replicas), else in this process."""

    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="Largest accepted file.")
    max_files_per_request: int = Field(100, ge=1, le=10_000, description="Files per upload.")
    requests_per_minute: int = Field(
        600, ge=0, description="Requests per minute per API key (0: unlimited)."
    )
    tokens_per_day: int = Field(
        0, ge=0, description="LLM tokens (prompt + completion) per API key per day (0: unlimited)."
    )
    auth_failures_per_minute: int = Field(
        20,
        ge=0,
        description="Failed authentications per client address per minute before that address "
        "gets 429 (0: unlimited).",
    )


class ParsingSettings(BaseModel):
    """Parsing uploads in child processes, each parse bounded (a crafted file fails alone)."""

    workers: int = Field(2, ge=1, le=64, description="Parser processes (started on first use).")
    timeout_s: float = Field(
        30.0, gt=0, le=3600, description="Wall time of one file's parse; its process is killed."
    )
    memory_mb: int = Field(
        1024, ge=256, description="Address space of a parser process (MiB); beyond, refused."
    )
    max_chars: int = Field(
        20_000_000, ge=1000, description="Characters of text one file may parse into."
    )


class AdmissionSettings(BaseModel):
    """Bounded serving work: what one client or one big request may hold of the process."""

    max_inflight_queries: int = Field(
        16,
        ge=1,
        le=1024,
        description="Searches and questions computed at once per process; more wait, then 503.",
    )
    queue_timeout_s: float = Field(
        2.0,
        ge=0,
        le=60,
        description="How long a search or question waits for a free slot before its 503.",
    )
    max_json_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest request body on routes other than document uploads (413 beyond).",
    )
    max_upload_request_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="Largest document upload request, all files together (413 beyond).",
    )


Scope = Literal["read", "write", "admin"]
DEFAULT_SCOPES: tuple[Scope, ...] = ("read", "write")
KEY_HASH_SCHEME = "sha256"


class ApiKey(BaseModel):
    """One API key: its secret (``key_hash`` from ``ragfleet keys create``, or in development
    ``key`` in plaintext), the ACL groups its holder may read (None: every document) and what
    it may do."""

    key: SecretStr | None = None
    key_hash: str | None = Field(
        None, pattern=rf"^{KEY_HASH_SCHEME}\$[0-9a-f]{{32}}\$[0-9a-f]{{64}}$"
    )
    name: str = Field("default", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    groups: list[str] | None = None
    scopes: list[Scope] = Field(default_factory=lambda: list(DEFAULT_SCOPES), min_length=1)

    @model_validator(mode="after")
    def _one_secret(self) -> ApiKey:
        if (self.key is None) == (self.key_hash is None):
            raise ValueError("give an API key either key_hash or (in development) key")
        return self


class AuthSettings(BaseModel):
    """Bearer API keys. Empty: /v1 is open (acceptable only on loopback)."""

    api_keys: list[ApiKey] = Field(
        default_factory=list,
        description='Keys accepted on /v1, as JSON: [{"key_hash": "sha256$...", "name": "web", '
        '"groups": ["eng"], "scopes": ["read", "write"]}]; groups null means every document; '
        "scopes: read, write (default both), admin (drop collections, narrow public "
        "documents). Several keys may share a name (rotation).",
    )


PiiPolicy = Literal["off", "redact-for-llm", "redact-everywhere"]


class SecuritySettings(BaseModel):
    """PII redaction and the prompt-injection guard."""

    pii_policy: PiiPolicy = Field(
        "redact-for-llm",
        description="What is redacted: off; redact-for-llm (passages and question sent to the "
        "LLM); redact-everywhere (also search hits, citations and extractive answers).",
    )
    pii_collections: dict[str, PiiPolicy] = Field(
        default_factory=dict,
        description='Per-collection policies overriding pii_policy, as JSON: {"hr": '
        '"redact-everywhere"}.',
    )
    pii_entities: list[PiiEntity] = Field(
        default_factory=lambda: list(get_args(PiiEntity)),
        min_length=1,
        description="PII types detected (Presidio entity names).",
    )
    retain_queries: bool = Field(
        False,
        description="Keep the text of answered questions in the registry (for evaluation); "
        "who asked is always kept, so feedback is accepted from that key only.",
    )
    flagged_passages: Literal["include", "exclude"] = Field(
        "include",
        description="Passages flagged at ingest as instruction-like: include them in answer "
        "context (quoted and marked) or exclude them.",
    )

    @field_validator("pii_collections")
    @classmethod
    def _collections(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            validate_collection_name(name)
        return value

    def pii_policy_for(self, collection: str) -> PiiPolicy:
        return self.pii_collections.get(collection, self.pii_policy)


class ServerSettings(BaseModel):
    """The HTTP server started by ``ragfleet serve``."""

    host: str = Field("127.0.0.1", description="Bind address; 0.0.0.0 only behind auth.")
    port: int = Field(8000, ge=1, le=65535, description="Listen port.")
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins.")
    api_docs: bool | None = Field(
        None,
        description="Serve /docs and /openapi.json; unset: only in the development environment.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token /metrics requires (Prometheus bearer_token); outside "
        "development /metrics is refused without one, as it names every tenant.",
    )
    readiness_grace_s: float = Field(
        300.0,
        ge=0,
        le=86400,
        description="How long a failing dependency keeps /readyz at 503; after that the pod "
        "reports ready (status degraded) so a shared outage neither empties the Service nor "
        "blocks a rollout forever. 0: dependencies never gate readiness.",
    )


class JobSettings(BaseModel):
    """Ingestion jobs, wherever they run (in-process threads or Celery workers)."""

    concurrency: int = Field(
        2,
        ge=1,
        le=32,
        description="In-process ingestion threads: with two, documents uploaded while a huge one "
        "is embedding start at once instead of after it (they share the embedding workers).",
    )
    batch_documents: int = Field(
        512,
        ge=1,
        le=4096,
        description="Queued documents the in-process runner embeds together (less padding).",
    )
    queue_size: int = Field(
        10_000,
        ge=1,
        description="Queued jobs (in-process or in the broker) before uploads get 503.",
    )
    embed_batch: int = Field(
        512,
        ge=1,
        le=8192,
        description="Chunks per embed+upsert step; progress and heartbeat are written after each.",
    )
    time_limit_s: float = Field(
        1800.0, gt=0, description="A job still running after this long fails (checked per step)."
    )
    max_retries: int = Field(
        5, ge=0, le=50, description="Queue only: retries of a job after a transient fault."
    )
    max_attempts: int = Field(
        10,
        ge=1,
        le=100,
        description="Runs of one job (retries and requeues after crashes) before it fails.",
    )
    retry_backoff_s: float = Field(
        2.0, gt=0, description="First retry delay; doubles per retry, with full jitter."
    )
    retry_backoff_max_s: float = Field(300.0, gt=0, description="Longest retry delay.")
    stale_after_s: float = Field(
        600.0,
        gt=0,
        description="Running jobs with an older heartbeat are requeued by reconciliation.",
    )


class RedisSettings(BaseModel):
    """Celery broker. No URL: jobs run in-process (the embedded default). A ``sentinel://`` URL
    asks Redis Sentinel for the current master, so a failover needs no restart or new URL."""

    url: RedisUrl | Annotated[str, UrlOf("sentinel")] | None = Field(
        None,
        description="Redis URL, e.g. redis://:password@redis:6379/0; or the Sentinels, "
        "sentinel://:password@sentinel:26379/0, several joined by ';' (kombu's format: the "
        "password and database of the first are the master's). Needs sentinel_master.",
    )
    sentinel_master: str | None = Field(
        None,
        min_length=1,
        description="Name of the master the Sentinels monitor; required with a sentinel:// URL.",
    )
    sentinel_password: SecretStr | None = Field(
        None, description="Password of the Sentinels themselves, when they require one."
    )
    visibility_timeout_s: int = Field(
        3600,
        ge=60,
        description="An unacknowledged task is redelivered after this; above jobs.time_limit_s.",
    )
    restore_interval_s: int = Field(
        10, ge=1, description="How often workers sweep for unacknowledged tasks to redeliver."
    )
    socket_timeout_s: float = Field(10.0, gt=0, description="Redis socket timeout.")

    @field_validator("url", mode="wrap")
    @classmethod
    def _each_sentinel(cls, value: Any, handler: Any) -> str | None:
        """Several Sentinels are ';'-separated sentinel:// URLs: each is validated alone."""
        if not isinstance(value, str) or ";" not in value:
            result: str | None = handler(value)
            return result
        for part in value.split(";"):
            if not part.startswith("sentinel://"):
                raise ValueError("only sentinel:// URLs may be joined with ';'")
            handler(part)
        return value

    @model_validator(mode="after")
    def _sentinel_needs_master(self) -> RedisSettings:
        if self.uses_sentinel and not self.sentinel_master:
            raise ValueError(
                "redis.sentinel_master is required with a sentinel:// URL: set "
                "RAGFLEET_REDIS__SENTINEL_MASTER to the name the Sentinels monitor"
            )
        if self.sentinel_master and not self.uses_sentinel:
            raise ValueError("redis.sentinel_master is set but redis.url is not a sentinel:// URL")
        return self

    @property
    def uses_sentinel(self) -> bool:
        return bool(self.url and self.url.startswith("sentinel://"))


class WorkerSettings(BaseModel):
    """The Celery worker process (`ragfleet worker`)."""

    name: str | None = Field(
        None,
        description="Worker node name (default ragfleet@<hostname>); unique per running worker.",
    )
    concurrency: int = Field(2, ge=1, le=64, description="Tasks run at once (threads).")
    metrics_port: int = Field(9100, ge=0, le=65535, description="Prometheus port; 0 disables.")
    heartbeat_interval_s: float = Field(
        10.0, gt=0, description="How often the worker loop touches its heartbeat file."
    )
    heartbeat_file: Path | None = Field(
        None, description="Heartbeat file read by `ragfleet worker-probe` (default data_dir)."
    )


class TracingSettings(BaseModel):
    """OpenTelemetry traces. No endpoint: trace ids in logs and headers, nothing exported."""

    otlp_endpoint: HttpUrl | None = Field(
        None, description="OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces."
    )
    service_name: str = Field("ragfleet", description="service.name of exported spans.")
    sample_ratio: float = Field(
        1.0, ge=0, le=1, description="Share of new traces sampled (callers' decisions are kept)."
    )


class LogSettings(BaseModel):
    """Logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    json_format: bool = Field(False, description="JSON lines on stdout (set in containers).")


class Settings(BaseSettings):
    """Every option of ragfleet; see each group's docstring."""

    model_config = SettingsConfigDict(
        env_prefix="RAGFLEET_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        secrets_dir=str(SECRETS_DIR) if SECRETS_DIR.is_dir() else None,
    )

    environment: Literal["development", "staging", "production"] = Field(
        "development",
        description="Outside development, API keys are required and placeholder secrets refused.",
    )
    data_dir: Path = Field(Path(".ragfleet"), description="Embedded stores live here.")
    default_collection: str = Field("default", description="Collection used when none is named.")
    qdrant: QdrantSettings = QdrantSettings()
    database: DatabaseSettings = DatabaseSettings()
    llm: LLMSettings = LLMSettings()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    reranker: RerankerSettings = RerankerSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    quality: QualitySettings = QualitySettings()
    limits: LimitSettings = LimitSettings()
    admission: AdmissionSettings = AdmissionSettings()
    parsing: ParsingSettings = ParsingSettings()
    auth: AuthSettings = AuthSettings()
    security: SecuritySettings = SecuritySettings()
    server: ServerSettings = ServerSettings()
    jobs: JobSettings = JobSettings()
    redis: RedisSettings = RedisSettings()
    worker: WorkerSettings = WorkerSettings()
    tracing: TracingSettings = TracingSettings()
    log: LogSettings = LogSettings()

    @field_validator("default_collection")
    @classmethod
    def _collection(cls, value: str) -> str:
        return validate_collection_name(value)

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        secrets = [k.key for k in self.auth.api_keys if k.key is not None]
        secrets += [
            s
            for s in (
                self.llm.api_key,
                self.qdrant.api_key,
                self.embeddings.api_key,
                self.reranker.api_key,
                self.server.metrics_token,
            )
            if s is not None
        ]
        jobs = self.jobs
        if self.redis.visibility_timeout_s <= jobs.time_limit_s + jobs.retry_backoff_max_s:
            raise ValueError(
                "redis.visibility_timeout_s must exceed jobs.time_limit_s + "
                "jobs.retry_backoff_max_s, or a task still running (or waiting out a retry "
                "delay) is delivered again"
            )
        if jobs.retry_backoff_max_s >= jobs.stale_after_s:
            raise ValueError(
                "jobs.retry_backoff_max_s must be below jobs.stale_after_s, or jobs waiting for "
                "a retry are taken for orphans"
            )
        if self.environment != "development":
            for secret in secrets:
                if secret.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                    raise ValueError(f"placeholder secret refused in {self.environment}")
            if not self.auth.api_keys:
                raise ValueError(f"auth.api_keys must be set in {self.environment}")
            if any(k.key is not None for k in self.auth.api_keys):
                raise ValueError(
                    f"plaintext auth.api_keys[].key refused in {self.environment}: store "
                    "key_hash instead (ragfleet keys create)"
                )
        return self

    @property
    def database_url(self) -> str:
        """The registry URL, defaulting to SQLite in the data directory."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_dir / 'registry.db').resolve()}"

    @property
    def api_docs_enabled(self) -> bool:
        if self.server.api_docs is not None:
            return self.server.api_docs
        return self.environment == "development"

    @property
    def worker_name(self) -> str:
        """This process's name on jobs it runs; stable across restarts of the same pod or host."""
        return self.worker.name or f"ragfleet@{socket.gethostname()}"

    @property
    def heartbeat_file(self) -> Path:
        return self.worker.heartbeat_file or self.data_dir / "worker.heartbeat"

    @property
    def tuning_file(self) -> Path:
        return self.retrieval.tuning_file or self.data_dir / "fusion.json"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()

"""Prometheus metrics, all prefixed ``ragfleet_``; labels only take bounded values.

Web-latency buckets and LLM buckets differ on purpose; 5 s (the answer SLO) is a bucket edge.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WEB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LLM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
INGEST_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

HTTP_REQUESTS = Counter(
    "ragfleet_http_requests_total",
    "HTTP requests by route template, method and status class.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "ragfleet_http_request_duration_seconds",
    "HTTP request duration by route template.",
    ["route", "method"],
    buckets=WEB_BUCKETS,
)
QUERY_STAGE_DURATION = Histogram(
    "ragfleet_query_stage_duration_seconds",
    "Duration of each query stage.",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
ANSWERS = Counter("ragfleet_answers_total", "Answers by mode.", ["mode"])
LLM_FALLBACKS = Counter(
    "ragfleet_llm_fallbacks_total", "Extractive fallbacks by reason.", ["reason"]
)
LLM_REQUESTS_HELD = Gauge(
    "ragfleet_llm_requests_held",
    "Answers waiting for inference to wake from zero (KEDA activates inference on it).",
)
LLM_DURATION = Histogram(
    "ragfleet_llm_request_duration_seconds",
    "Chat completion duration.",
    buckets=LLM_BUCKETS,
)
LLM_TTFT = Histogram(
    "ragfleet_llm_time_to_first_token_seconds",
    "Time to the first streamed token.",
    buckets=LLM_BUCKETS,
)
LLM_TOKENS = Counter("ragfleet_llm_tokens_total", "LLM tokens by direction.", ["direction"])
# Tenants are API key names (a configured, bounded set), never users or queries.
TENANT_TOKENS = Counter(
    "ragfleet_tenant_llm_tokens_total",
    "LLM tokens by tenant and direction.",
    ["tenant", "direction"],
)
TENANT_COST = Counter(
    "ragfleet_tenant_llm_cost_total",
    "Estimated LLM cost by tenant, in the currency of llm.*_cost_per_1k_tokens.",
    ["tenant"],
)
ANSWER_GROUNDEDNESS = Histogram(
    "ragfleet_answer_groundedness_ratio",
    "Share of LLM answer sentences supported by the cited passages.",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
UNGROUNDED_ANSWERS = Counter("ragfleet_answers_ungrounded_total", "Answers flagged grounded=false.")
GROUNDING_UNSCORED = Counter(
    "ragfleet_answer_grounding_unscored_total",
    "LLM answers left unscored: no checkable sentence, or scoring failed.",
    ["reason"],
)
PII_REDACTIONS = Counter(
    "ragfleet_pii_redactions_total",
    "PII values redacted, by type and by where the text went (llm or reader).",
    ["entity", "where"],
)
INJECTION_FLAGGED_CHUNKS = Counter(
    "ragfleet_ingest_injection_flagged_chunks_total",
    "Chunks flagged at ingest for instruction-like text (possible prompt injection).",
)
INJECTION_EXCLUDED_PASSAGES = Counter(
    "ragfleet_injection_excluded_passages_total",
    "Flagged passages left out of answer context (security.flagged_passages=exclude).",
)
RATE_LIMITED = Counter(
    "ragfleet_rate_limited_total",
    "Requests refused with 429, by API key name and limit (requests or tokens).",
    ["tenant", "limit"],
)
AUTH_FAILURES = Counter("ragfleet_auth_failures_total", "Requests with a missing or wrong API key.")
RATE_LIMIT_ERRORS = Counter(
    "ragfleet_rate_limit_errors_total",
    "Rate-limit checks that failed (counter store down) and let the request through.",
)
FEEDBACK = Counter("ragfleet_feedback_total", "Answer feedback by rating.", ["rating"])
RERANK_FAILURES = Counter("ragfleet_rerank_failures_total", "Rerank calls that failed.")
INGEST_JOBS = Counter(
    "ragfleet_ingest_jobs_total",
    "Job attempts by outcome: succeeded, failed, retried.",
    ["outcome"],
)
INGEST_CHUNKS = Counter("ragfleet_ingest_chunks_total", "Chunks indexed.")
INGEST_STAGE_DURATION = Histogram(
    "ragfleet_ingest_stage_duration_seconds",
    "Duration of ingestion stages per batch.",
    ["stage"],
    buckets=INGEST_BUCKETS,
)
JOBS_QUEUED = Gauge("ragfleet_ingest_queue_depth", "Jobs waiting in the in-process runner.")
WORKER_TASK_DURATION = Histogram(
    "ragfleet_worker_task_duration_seconds",
    "Duration of Celery tasks by kind.",
    ["task"],
    buckets=INGEST_BUCKETS,
)
READY = Gauge(
    "ragfleet_ready",
    "Per dependency, 1 when the API's last /readyz check of it passed (only the API exports it).",
    ["dependency"],
)
WORKER_UP = Gauge("ragfleet_worker_up", "1 while this process's Celery consumer runs.")
REQUESTS_SHED = Counter(
    "ragfleet_requests_shed_total",
    "Searches and questions not computed: no free slot in time, or the client had gone.",
    ["reason"],
)
for _reason in ("overloaded", "disconnected"):
    REQUESTS_SHED.labels(_reason)
WORKER_CONSUMING = Gauge(
    "ragfleet_worker_consuming",
    "1 while the Celery consumer is connected and Redis answers; 0 for a dead consumer.",
)
BROKER_RESETS = Counter(
    "ragfleet_broker_resets_total",
    "Times a worker found Redis had lost its data (restarted unsaved) and requeued jobs.",
)
JOBS_REQUEUED = Counter("ragfleet_jobs_requeued_total", "Orphaned jobs requeued by reconciliation.")
PUBLISH_FAILURES = Counter(
    "ragfleet_queue_publish_failures_total", "Tasks Redis did not take (reconciliation resends)."
)

for _mode in ("llm", "extractive"):
    ANSWERS.labels(_mode)
for _reason in (
    "not_configured",
    "timeout",
    "connection",
    "http_5xx",
    "http_4xx",
    "malformed",
):
    LLM_FALLBACKS.labels(_reason)
for _rating in ("up", "down"):
    FEEDBACK.labels(_rating)
for _outcome in ("succeeded", "failed", "retried"):
    INGEST_JOBS.labels(_outcome)
for _unscored in ("no_claims", "error"):
    GROUNDING_UNSCORED.labels(_unscored)
for _direction in ("prompt", "completion"):
    LLM_TOKENS.labels(_direction)

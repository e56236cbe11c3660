"""Domain exceptions. The API maps each to one HTTP status; the CLI prints the message.

RagfleetError
├── BadInputError (ValueError)     400  the request or document cannot be processed as given
│   ├── UnsupportedDocumentError   415  file type ragfleet cannot parse
│   ├── DocumentTooLargeError      413  over limits.max_upload_bytes
│   ├── EmptyDocumentError         422  nothing but whitespace after parsing
│   ├── ParseLimitError            422  parsing ran over its time, memory or output limit
│   └── InvalidFilterError         422  a search filter that cannot be applied
├── AuthError                      401  missing or wrong API key
├── ForbiddenError                 403  the key's ACL groups do not cover the document
├── NotFoundError                  404  unknown document, job or collection
├── ConflictError                  409  the resource is busy (an ingest already in flight)
│   └── StoreBusyError                    another process owns the embedded store
├── RateLimitedError               429  over the key's request rate or token quota
├── OverloadedError                503  the ingestion queue is full
├── DependencyError                503  a backing service failed (vector store, embeddings, ...)
│   └── LLMError                         the chat endpoint failed; answers fall back, never surface
├── IntegrityError                       registry and store disagree (start refused; see doctor)
└── job outcomes, recorded on the job and never raised to a client:
    ├── ClaimLostError                   another run took the job over; this run stops quietly
    ├── JobInterruptedError              shutting down; the job goes back to the queue
    └── JobTimeoutError                  over jobs.time_limit_s; the job fails
"""

from __future__ import annotations


class RagfleetError(Exception):
    """Base of every ragfleet error; ``code`` is stable and machine-readable."""

    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInputError(RagfleetError, ValueError):
    """Also a ``ValueError``, so pydantic validators report it as a field error."""

    code = "bad_input"


class UnsupportedDocumentError(BadInputError):
    code = "unsupported_type"


class DocumentTooLargeError(BadInputError):
    code = "too_large"


class ParseLimitError(BadInputError):
    """A file whose parse ran over a time, memory or output limit; it alone is refused."""

    code = "parse_limit"


class EmptyDocumentError(BadInputError):
    code = "empty_document"


class ClaimLostError(RagfleetError):
    """This run no longer holds its job: reconciliation gave it to another run, which finishes
    it. The run stops without touching the job or its points."""

    code = "claim_lost"


class JobInterruptedError(RagfleetError):
    """The process is shutting down; the job goes back to the queue to run again."""

    code = "interrupted"


class JobTimeoutError(RagfleetError):
    """A job ran over ``jobs.time_limit_s``; retrying would only run over again."""

    code = "job_timeout"


class InvalidFilterError(BadInputError):
    code = "invalid_filter"


class AuthError(RagfleetError):
    code = "unauthorized"


class ForbiddenError(RagfleetError):
    code = "forbidden"


class NotFoundError(RagfleetError):
    code = "not_found"


class ConflictError(RagfleetError):
    code = "conflict"


class StoreBusyError(ConflictError):
    """Another process holds the embedded store's folder (Qdrant Edge is single-process)."""

    code = "store_busy"


class RateLimitedError(RagfleetError):
    """``retry_after`` is the whole seconds until the limit lets the caller in again."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OverloadedError(RagfleetError):
    """``retry_after``: whole seconds after which trying again is reasonable."""

    code = "overloaded"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IntegrityError(RagfleetError):
    """The registry and the vector store disagree, or a store file is damaged; found at start
    or by ``ragfleet doctor``, which can repair what is repairable."""

    code = "integrity"


class DependencyError(RagfleetError):
    """A backing service failed; ``dependency`` names it for /readyz and logs."""

    code = "dependency_unavailable"

    def __init__(self, dependency: str, message: str) -> None:
        super().__init__(f"{dependency}: {message}")
        self.dependency = dependency


class LLMError(DependencyError):
    """The chat endpoint failed; ``reason`` is a bounded label (timeout, http_5xx, ...)."""

    code = "llm_unavailable"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__("llm", message)
        self.reason = reason


def failure_message(exc: BaseException) -> str:
    """What a failed job records: our own message, or the bare exception of a bug."""
    if isinstance(exc, RagfleetError):
        return exc.message
    # Bounded: some exceptions quote their input, which may be document text.
    return f"internal error: {type(exc).__name__}: {str(exc)[:200]}"

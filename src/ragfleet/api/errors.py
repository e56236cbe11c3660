"""Map domain errors and validation failures to ``{code, message}`` JSON bodies."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ragfleet import errors
from ragfleet.telemetry.logging import request_id_var

logger = logging.getLogger(__name__)

STATUS: list[tuple[type[errors.RagfleetError], int]] = [
    (errors.UnsupportedDocumentError, 415),
    (errors.DocumentTooLargeError, 413),
    (errors.EmptyDocumentError, 422),
    (errors.ParseLimitError, 422),
    (errors.InvalidFilterError, 422),
    (errors.BadInputError, 400),
    (errors.AuthError, 401),
    (errors.ForbiddenError, 403),
    (errors.NotFoundError, 404),
    (errors.ConflictError, 409),
    (errors.RateLimitedError, 429),
    (errors.OverloadedError, 503),
    (errors.DependencyError, 503),
]


def status_for(exc: errors.RagfleetError) -> int:
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 500)


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
) -> JSONResponse:
    """The error body every failure gets: a stable code, a plain message and the request id
    (to find the server's log lines; internals stay there)."""
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = {"code": code, "message": message, "request_id": request_id or request_id_var.get()}
    return JSONResponse(body, status_code=status, headers=headers)


def client_message(exc: errors.RagfleetError) -> str:
    """What a client is told: domain messages as they are, but for failed backing services
    only which one failed (their text can quote drivers, paths and queries)."""
    if isinstance(exc, errors.DependencyError):
        return f"{exc.dependency} is unavailable; retry later"
    return exc.message


def _location(loc: tuple[object, ...]) -> str:
    """The field's path without where it came from (a field may itself be named ``query``)."""
    parts = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    return ".".join(str(part) for part in parts)


def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A body that is not JSON is a 415 (wrong type) or a 400 (malformed, with where); a JSON
    body that does not fit the route is a 422 naming each field, on every route alike."""
    found = exc.errors()
    content_type = request.headers.get("content-type", "")
    if any(e.get("loc") == ("body",) for e in found) and "json" not in content_type:
        return error_response(
            415, "unsupported_type", f"send application/json (got {content_type or 'no type'})"
        )
    malformed = [e for e in found if e.get("type") == "json_invalid"]
    if malformed:
        where = next((part for part in malformed[0].get("loc", ()) if isinstance(part, int)), None)
        reason = (malformed[0].get("ctx") or {}).get("error", "malformed")
        at = f" at character {where}" if where is not None else ""
        return error_response(400, "bad_input", f"the body is not valid JSON: {reason}{at}")
    problems = [
        f"{_location(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}".lstrip(": ")
        for e in found
    ]
    return error_response(422, "validation_error", "; ".join(problems))


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.RagfleetError)
    async def _domain(_: Request, exc: errors.RagfleetError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            logger.warning("request failed: %s", exc.message)
        headers = (
            {"Retry-After": str(exc.retry_after)}
            if isinstance(exc, errors.RateLimitedError | errors.OverloadedError)
            else None
        )
        return error_response(status, exc.code, client_message(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _invalid_request(request, exc)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Runs outside the request's middleware (its context is gone): the id is in the scope.
        request_id = request.scope.get("state", {}).get("request_id")
        logger.exception("unhandled error in request %s", request_id, exc_info=exc)
        message = "internal error; see the server log"
        return error_response(500, "internal_error", message, request_id=request_id)

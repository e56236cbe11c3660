"""Map domain errors and validation failures to ``{code, message}`` JSON bodies."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ragfleet import errors

logger = logging.getLogger(__name__)

STATUS: list[tuple[type[errors.RagfleetError], int]] = [
    (errors.UnsupportedDocumentError, 415),
    (errors.DocumentTooLargeError, 413),
    (errors.EmptyDocumentError, 422),
    (errors.InvalidFilterError, 422),
    (errors.BadInputError, 400),
    (errors.AuthError, 401),
    (errors.ForbiddenError, 403),
    (errors.NotFoundError, 404),
    (errors.ConflictError, 409),
    (errors.OverloadedError, 503),
    (errors.DependencyError, 503),
]


def status_for(exc: errors.RagfleetError) -> int:
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 500)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def _location(loc: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in loc if part not in ("body", "query", "path"))


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.RagfleetError)
    async def _domain(_: Request, exc: errors.RagfleetError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            logger.warning("request failed: %s", exc.message)
        return error_response(status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{_location(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}".lstrip(": ")
            for e in exc.errors()
        ]
        return error_response(422, "validation_error", "; ".join(problems))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal error; see the server log")

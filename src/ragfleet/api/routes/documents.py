"""Ingest, list, read and delete documents."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from ragfleet.api import API_PREFIX
from ragfleet.api.deps import Offset, PrincipalDep, ServicesDep
from ragfleet.api.middleware import log_collection, log_documents
from ragfleet.api.schemas import (
    AcceptedPublic,
    DocumentCreate,
    DocumentPublic,
    ListEnvelope,
    RefusedFilePublic,
    UploadResponse,
)
from ragfleet.domain import (
    MetadataValue,
    ParsedDocument,
    validate_collection_name,
    validate_metadata,
)
from ragfleet.errors import (
    BadInputError,
    DocumentTooLargeError,
    RagfleetError,
    UnsupportedDocumentError,
)
from ragfleet.ingest.parsers import parse_text
from ragfleet.ingest.sandbox import ParseSandbox
from ragfleet.services import Services

router = APIRouter(prefix=f"{API_PREFIX}/documents", tags=["documents"])

READ_CHUNK = 1024 * 1024

UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DocumentCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "collection": {"type": "string"},
                        "metadata": {"type": "string", "description": "JSON object"},
                        "acl": {"type": "string", "description": "Comma-separated groups"},
                    },
                }
            },
        },
    }
}


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    """Read at most ``limit`` bytes; a larger file is refused without reading it all."""
    if upload.size is not None and upload.size > limit:
        raise DocumentTooLargeError(f"{upload.filename} is over the {limit}-byte upload limit")
    parts: list[bytes] = []
    total = 0
    while chunk := await upload.read(READ_CHUNK):
        total += len(chunk)
        if total > limit:
            raise DocumentTooLargeError(f"{upload.filename} is over the {limit}-byte upload limit")
        parts.append(chunk)
    return b"".join(parts)


def _load_json(raw: str | bytes, what: str) -> Any:
    """Parse JSON from a client; malformed or absurdly nested input is a 400, never a 500."""
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{what} is not valid UTF-8 JSON: {exc}") from exc
    except RecursionError as exc:
        raise BadInputError(f"{what} is nested too deeply") from exc


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise DocumentTooLargeError("the document is over the upload limit")
    parts: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise DocumentTooLargeError("the document is over the upload limit")
        parts.append(chunk)
    return b"".join(parts)


def _form_metadata(raw: str | None) -> dict[str, MetadataValue]:
    if not raw:
        return {}
    value = _load_json(raw, "metadata")
    if not isinstance(value, dict):
        raise BadInputError("metadata must be a JSON object")
    try:
        return validate_metadata(value)
    except ValueError as exc:
        raise BadInputError(str(exc)) from exc


def upload_source(filename: str | None) -> str:
    """A file's path relative to the upload root (folders kept, so two ``index.md`` of different
    folders are two documents); absolute, parent and empty parts are dropped."""
    parts = PurePosixPath((filename or "").replace("\\", "/")).parts
    kept = [part for part in parts if part not in ("/", ".", "..")]
    return "/".join(kept) or "upload"


def _refusal(source: str, exc: RagfleetError) -> RefusedFilePublic:
    message = exc.message if source in exc.message else f"{source}: {exc.message}"
    return RefusedFilePublic(file=source, code=exc.code, message=message)


@dataclass(slots=True)
class Upload:
    """A parsed multipart request: the documents, the files refused and the form fields."""

    documents: list[ParsedDocument] = field(default_factory=list)
    refused: list[RefusedFilePublic] = field(default_factory=list)
    errors: list[BadInputError] = field(default_factory=list)
    collection: str | None = None
    acl: list[str] | None = None


async def _parse_upload(
    upload: UploadFile, source: str, limit: int, parser: ParseSandbox
) -> list[ParsedDocument]:
    data = await _read_limited(upload, limit)
    return await parser.parse_async(source, data)


async def _from_multipart(request: Request, services: Services) -> Upload:
    """Each file is parsed on its own: a bad one is refused by name, the others go ahead."""
    limits = services.settings.limits
    declared = request.headers.get("content-length", "")
    if (
        declared.isdigit()
        and int(declared) > limits.max_upload_bytes * limits.max_files_per_request
    ):
        raise DocumentTooLargeError("the request is larger than the upload limits allow")
    async with request.form(max_files=limits.max_files_per_request) as form:
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if not files:
            raise BadInputError("send one or more files in the 'files' form field")
        collection = form.get("collection")
        metadata = _form_metadata(str(form.get("metadata") or "") or None)
        acl_raw = str(form.get("acl") or "")
        result = Upload(collection=str(collection) if collection else None)
        for upload in files:
            source = upload_source(upload.filename)
            try:
                parsed = await _parse_upload(
                    upload, source, limits.max_upload_bytes, services.parser
                )
            except BadInputError as exc:
                result.refused.append(_refusal(source, exc))
                result.errors.append(exc)
                continue
            for doc in parsed:
                doc.metadata = {**doc.metadata, **metadata}
                result.documents.append(doc)
    result.acl = [g.strip() for g in acl_raw.split(",") if g.strip()] or None
    if not result.documents:
        # Nothing to accept: the request fails as a whole, with the first file's status.
        error = result.errors[0]
        error.message = "; ".join(r.message for r in result.refused)
        raise error
    return result


async def _from_json(request: Request, services: Services) -> Upload:
    raw = await _read_body(request, services.settings.limits.max_upload_bytes)
    try:
        body = DocumentCreate.model_validate(_load_json(raw, "the body"))
    except ValidationError as exc:
        # The same 422 as every other JSON route (``api.errors`` words it).
        raise RequestValidationError(exc.errors(), body=None) from exc
    if not body.text.strip():
        raise BadInputError("text is empty")
    doc = parse_text(body.text, body.title, body.source, body.metadata)
    return Upload([doc], collection=body.collection, acl=body.acl)


@router.post(
    "",
    status_code=202,
    response_model=UploadResponse,
    openapi_extra=UPLOAD_OPENAPI,
    operation_id="create_documents",
    summary="Ingest files (multipart) or a text document (JSON)",
    responses={409: {"description": "A document is already being ingested."}},
)
async def create_documents(
    request: Request, services: ServicesDep, principal: PrincipalDep
) -> UploadResponse:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        upload = await _from_multipart(request, services)
    elif content_type.startswith("application/json"):
        upload = await _from_json(request, services)
    else:
        raise UnsupportedDocumentError(
            "send multipart/form-data with files, or application/json with text"
        )
    collection = validate_collection_name(upload.collection or services.settings.default_collection)
    log_collection(request, collection)
    # Off the event loop: with the queue this talks to Redis.
    accepted = await run_in_threadpool(
        services.admission.submit,
        upload.documents,
        collection,
        upload.acl,
        principal.groups,
        principal.admin,
    )
    log_documents(request, [a.document_id for a in accepted])
    data = [
        AcceptedPublic(
            document_id=a.document_id, job_id=a.job_id, status=a.status.value, source=doc.source
        )
        for a, doc in zip(accepted, upload.documents, strict=True)
    ]
    return UploadResponse(data=data, count=len(data), refused=upload.refused)


@router.get("", response_model=ListEnvelope[DocumentPublic], operation_id="list_documents")
def list_documents(
    services: ServicesDep,
    principal: PrincipalDep,
    collection: Annotated[str | None, Query(max_length=63)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> ListEnvelope[DocumentPublic]:
    rows, total = services.registry.list_documents(collection, limit, offset, principal.groups)
    return ListEnvelope[DocumentPublic](
        data=[DocumentPublic.model_validate(r) for r in rows], count=total
    )


@router.get("/{document_id}", response_model=DocumentPublic, operation_id="get_document")
def get_document(
    document_id: str, services: ServicesDep, principal: PrincipalDep
) -> DocumentPublic:
    return DocumentPublic.model_validate(
        services.registry.get_document(document_id, principal.groups)
    )


@router.delete(
    "/{document_id}", status_code=204, response_class=Response, operation_id="delete_document"
)
def delete_document(document_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    services.admission.delete(document_id, principal.groups)
    return Response(status_code=204)

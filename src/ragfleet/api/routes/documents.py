"""Ingest, list, read and delete documents."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from ragfleet.api import API_PREFIX
from ragfleet.api.deps import PrincipalDep, ServicesDep
from ragfleet.api.middleware import log_collection
from ragfleet.api.schemas import (
    AcceptedPublic,
    DocumentCreate,
    DocumentPublic,
    ListEnvelope,
    validate_metadata,
)
from ragfleet.domain import MetadataValue, ParsedDocument, validate_collection_name
from ragfleet.errors import (
    BadInputError,
    DocumentTooLargeError,
    UnsupportedDocumentError,
)
from ragfleet.ingest.parsers import parse_file, parse_text
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


async def _from_multipart(
    request: Request, services: Services
) -> tuple[list[ParsedDocument], str | None, list[str] | None]:
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
        documents: list[ParsedDocument] = []
        for upload in files:
            data = await _read_limited(upload, limits.max_upload_bytes)
            name = upload.filename or "upload"
            for doc in await run_in_threadpool(parse_file, name, data):
                doc.metadata = {**doc.metadata, **metadata}
                documents.append(doc)
    acl = [g.strip() for g in acl_raw.split(",") if g.strip()] or None
    return documents, str(collection) if collection else None, acl


async def _from_json(
    request: Request, services: Services
) -> tuple[list[ParsedDocument], str | None, list[str] | None]:
    raw = await _read_body(request, services.settings.limits.max_upload_bytes)
    try:
        body = DocumentCreate.model_validate(_load_json(raw, "the body"))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BadInputError(problems) from exc
    if not body.text.strip():
        raise BadInputError("text is empty")
    doc = parse_text(body.text, body.title, body.source, body.metadata)
    return [doc], body.collection, body.acl


@router.post(
    "",
    status_code=202,
    response_model=ListEnvelope[AcceptedPublic],
    openapi_extra=UPLOAD_OPENAPI,
    operation_id="create_documents",
    summary="Ingest files (multipart) or a text document (JSON)",
    responses={409: {"description": "A document is already being ingested."}},
)
async def create_documents(
    request: Request, services: ServicesDep, principal: PrincipalDep
) -> ListEnvelope[AcceptedPublic]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        documents, collection, acl = await _from_multipart(request, services)
    elif content_type.startswith("application/json"):
        documents, collection, acl = await _from_json(request, services)
    else:
        raise UnsupportedDocumentError(
            "send multipart/form-data with files, or application/json with text"
        )
    collection = validate_collection_name(collection or services.settings.default_collection)
    log_collection(request, collection)
    # Off the event loop: with the queue this talks to Redis.
    accepted = await run_in_threadpool(
        services.admission.submit, documents, collection, acl, principal.groups
    )
    data = [
        AcceptedPublic(document_id=a.document_id, job_id=a.job_id, status=a.status.value)
        for a in accepted
    ]
    return ListEnvelope[AcceptedPublic](data=data, count=len(data))


@router.get("", response_model=ListEnvelope[DocumentPublic], operation_id="list_documents")
def list_documents(
    services: ServicesDep,
    principal: PrincipalDep,
    collection: Annotated[str | None, Query(max_length=63)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
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

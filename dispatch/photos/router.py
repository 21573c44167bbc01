"""HTTP for photos: a capped multipart upload and an authorized download; rules live in service."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.types import Message, Receive

from dispatch.deps import EngineDep, PrincipalDep, SettingsDep
from dispatch.errors import BadRequest, PayloadTooLarge, UnsupportedMedia
from dispatch.photos.service import CONTENT_TYPE, open_photo, set_public, store_photo

router = APIRouter(prefix="/api/v1/photos", tags=["photos"])

#: room for multipart boundaries and part headers on top of the photo cap
MULTIPART_SLACK = 64 * 1024
SERVE_HEADERS = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


class PhotoOut(BaseModel):
    id: str
    sha256: str
    width: int
    height: int
    size_bytes: int
    content_type: str
    url: str


@router.post(
    "",
    status_code=201,
    response_model=PhotoOut,
    openapi_extra=_UPLOAD_BODY,
    responses={400: {}, 413: {}, 415: {}},
)
async def upload_photo(
    request: Request, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep
) -> PhotoOut:
    """Multipart field `file`; stored as a sanitized JPEG that only the uploader sees until used.

    The body is read here, not by a `File()` parameter, so an oversize upload is refused
    from Content-Length or as soon as the stream passes the cap, never buffered whole.
    """
    upload = await _file_part(request, settings.max_photo_bytes + MULTIPART_SLACK)
    try:
        photo = await run_in_threadpool(
            store_photo, engine, settings, principal, upload.file, upload.content_type
        )
    finally:
        await upload.close()
    return PhotoOut(
        id=photo.id,
        sha256=photo.sha256,
        width=photo.width,
        height=photo.height,
        size_bytes=photo.size_bytes,
        content_type=photo.content_type,
        url=f"{router.prefix}/{photo.id}",
    )


@router.get(
    "/{photo_id}",
    response_class=FileResponse,
    responses={200: {"content": {CONTENT_TYPE: {}}}, 404: {}},
)
async def get_photo(
    photo_id: str, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep
) -> FileResponse:
    """The stored JPEG, to whoever may see it; everyone else gets 404."""
    path, _ = await run_in_threadpool(open_photo, engine, settings, principal, photo_id)
    return FileResponse(path, media_type=CONTENT_TYPE, headers=SERVE_HEADERS)


class PublicIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public: bool


class PublicOut(BaseModel):
    id: str
    case_id: int
    public: bool


@router.post("/{photo_id}/public", response_model=PublicOut, responses={403: {}, 404: {}})
async def publish_photo(
    photo_id: str, body: PublicIn, engine: EngineDep, principal: PrincipalDep
) -> PublicOut:
    """Make a case photo public (Open311 `media_url`) or private again: dispatchers only."""
    photo = await run_in_threadpool(set_public, engine, principal, photo_id, body.public)
    assert photo.case_id is not None
    return PublicOut(id=photo.id, case_id=photo.case_id, public=photo.public)


async def _file_part(request: Request, limit: int) -> UploadFile:
    """The single `file` part, parsed from a body that may not exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            "the upload is too large", details={"max_bytes": limit - MULTIPART_SLACK}
        )
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise UnsupportedMedia("send the photo as multipart/form-data in the field 'file'")
    capped = Request(request.scope, _capped(request.receive, limit))
    try:
        form = await capped.form(max_files=1, max_fields=8, max_part_size=4096)
    except (MultiPartException, HTTPException) as exc:  # Starlette raises the latter in apps
        reason = exc.detail if isinstance(exc, HTTPException) else exc.message
        raise BadRequest("malformed multipart body", details={"reason": reason}) from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        await form.close()
        raise BadRequest("the multipart field 'file' is missing", details={"field": "file"})
    return upload


def _capped(receive: Receive, limit: int) -> Receive:
    """A receive channel that fails once more than `limit` body bytes have arrived."""
    total = 0

    async def receive_capped() -> Message:
        nonlocal total
        message = await receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                raise PayloadTooLarge(
                    "the upload is too large", details={"max_bytes": limit - MULTIPART_SLACK}
                )
        return message

    return receive_capped

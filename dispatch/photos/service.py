"""Photo intake and access, free of HTTP.

Uploads are untrusted (RELIABILITY §2 rule 8, §4.5 S8): the size is capped while reading,
the format is decided by magic bytes (never the name or declared type), Pillow decodes
under a pixel cap, and only a re-encoded JPEG without any metadata is ever stored. This
drops EXIF GPS (a reporter's whereabouts, PIPL Art. 28) and any payload hidden in the file.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from uuid import uuid4

from PIL import Image, ImageOps
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from dispatch.auth.principal import Principal
from dispatch.cases.models import Case
from dispatch.config import Settings
from dispatch.db import transaction
from dispatch.dbtypes import utcnow
from dispatch.enums import PhotoKind, Role
from dispatch.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMedia,
)
from dispatch.feed.log import record
from dispatch.photos.models import Photo
from dispatch.tickets.models import Ticket

log = logging.getLogger(__name__)

CONTENT_TYPE = "image/jpeg"
JPEG_QUALITY = 85
#: read size for streams; also what a spooled upload keeps in memory before going to disk
CHUNK = 64 * 1024
SPOOL_IN_MEMORY = 1024 * 1024
_PHOTO_ID = re.compile(r"[0-9a-f]{32}")


# ---------------------------------------------------------------- intake


def store_photo(
    engine: Engine,
    settings: Settings,
    principal: Principal,
    stream: IO[bytes] | bytes,
    declared_type: str | None,
) -> Photo:
    """Check, sanitize and store one upload; the row is committed, the file fully written."""
    with _bounded_copy(stream, settings.max_photo_bytes) as raw:
        fmt = _sniff_format(raw.read(16), declared_type)
        raw.seek(0)
        with _decode(raw, fmt, settings.max_photo_pixels, settings.photo_max_side) as img:
            try:
                data, width, height = _reencode(img, settings.photo_max_side)
            except Exception as exc:  # an odd mode or frame the decoder let through
                raise BadRequest("not a readable image", details={"format": fmt.lower()}) from exc

    photo_id = uuid4().hex
    path = photo_path(settings, photo_id)
    _write_atomically(path, data)
    photo = Photo(
        id=photo_id,
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=CONTENT_TYPE,
        width=width,
        height=height,
        size_bytes=len(data),
        uploaded_by=principal.user_id,
    )
    try:
        with transaction(engine) as session:
            session.add(photo)
    except BaseException:
        path.unlink(missing_ok=True)  # no file without its row
        raise
    log.info("photo %s stored: %dx%d, %d bytes", photo_id, width, height, len(data))
    return photo


def photo_path(settings: Settings, photo_id: str) -> Path:
    """Sharded by the id's first two hex digits so no directory grows huge."""
    return settings.photo_dir / photo_id[:2] / f"{photo_id}.jpg"


@contextmanager
def _bounded_copy(stream: IO[bytes] | bytes, cap: int) -> Iterator[IO[bytes]]:
    """Copy at most cap + 1 bytes into a spooled temp file (memory, then disk), rewound."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as buf:
        if isinstance(stream, bytes | bytearray | memoryview):
            _check_size(len(stream), cap)
            buf.write(stream)
        else:
            total = 0
            while chunk := stream.read(min(CHUNK, cap + 1 - total)):
                total += len(chunk)
                _check_size(total, cap)
                buf.write(chunk)
        if buf.tell() == 0:
            raise BadRequest("the upload is empty")
        buf.seek(0)
        yield buf


def _check_size(size: int, cap: int) -> None:
    if size > cap:
        raise PayloadTooLarge(f"a photo may be at most {cap} bytes", details={"max_bytes": cap})


def _sniff_format(head: bytes, declared_type: str | None) -> str:
    """The Pillow format the first bytes prove; the declared type is only echoed back."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    raise UnsupportedMedia(
        "only JPEG, PNG and WebP photos are accepted",
        details={"accepted": ["image/jpeg", "image/png", "image/webp"], "declared": declared_type},
    )


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"the image has too many pixels ({width}x{height}; at most {max_pixels})",
            details={"width": width, "height": height, "max_pixels": max_pixels},
        )


def _decode(raw: IO[bytes], fmt: str, max_pixels: int, max_side: int) -> Image.Image:
    """Verify the structure, then decode fully: anything Pillow rejects is a 400, never a 500."""
    # Pillow raises DecompressionBombError above 2x this and warns above 1x; the explicit
    # header check below refuses everything above 1x before a single pixel is decoded.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(raw, formats=[fmt]) as probe:
            _check_pixels(probe.size, max_pixels)
            probe.verify()
        raw.seek(0)
        img = Image.open(raw, formats=[fmt])
        _check_pixels(img.size, max_pixels)
        if fmt == "JPEG" and max(img.size) > max_side:
            img.draft("RGB", (max_side, max_side))  # decode at 1/2, 1/4… when it is enough
        img.load()
    except PayloadTooLarge:
        raise
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(
            "the image has too many pixels", details={"max_pixels": max_pixels}
        ) from exc
    except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, struct.error…
        raise BadRequest("not a readable image", details={"format": fmt.lower()}) from exc
    return img


def _reencode(img: Image.Image, max_side: int) -> tuple[bytes, int, int]:
    """Upright, RGB, at most max_side, JPEG with no EXIF, XMP, ICC or comment."""
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block must not cost the worker the photo
        log.info("EXIF orientation unreadable; photo kept as decoded")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        rgb = Image.new("RGB", img.size, (255, 255, 255))
        rgb.paste(rgba, mask=rgba.getchannel("A"))
    else:
        rgb = img.convert("RGB")
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    rgb.info = {}  # the JPEG encoder copies a source "comment"; nothing of the upload survives
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, exif=b"")
    return out.getvalue(), rgb.width, rgb.height


def _write_atomically(path: Path, data: bytes) -> None:
    """Temp name, fsync, rename: readers see the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# ---------------------------------------------------------------- access


def open_photo(
    engine: Engine, settings: Settings, principal: Principal, photo_id: str
) -> tuple[Path, Photo]:
    """The file and row, if the caller may see it; otherwise NotFound (existence not revealed)."""
    if not _PHOTO_ID.fullmatch(photo_id):
        raise NotFound("no such photo")
    with Session(engine) as session:
        photo = session.get(Photo, photo_id)
        if photo is None or not _may_see(session, principal, photo):
            raise NotFound("no such photo")
    path = photo_path(settings, photo_id)
    if not path.is_file():
        log.error("photo %s has a row but no file at %s", photo_id, path)
        raise NotFound("no such photo")
    return path, photo


def open_public_photo(engine: Engine, settings: Settings, photo_id: str) -> Path:
    """A photo a dispatcher made public (Open311 media_url), to anyone; else NotFound."""
    if not _PHOTO_ID.fullmatch(photo_id):
        raise NotFound("no such photo")
    with Session(engine) as session:
        photo = session.get(Photo, photo_id)
    path = photo_path(settings, photo_id)
    if photo is None or not photo.public or photo.case_id is None or not path.is_file():
        raise NotFound("no such photo")
    return path


def set_public(engine: Engine, principal: Principal, photo_id: str, public: bool) -> Photo:
    """Dispatchers decide which case photos the public may see: none with a face, a plate or
    anything personal (PIPL). The case counts as updated, so polling clients see the change."""
    if principal.role not in (Role.dispatcher, Role.admin):
        raise Forbidden("only dispatchers decide which photos are public")
    if not _PHOTO_ID.fullmatch(photo_id):
        raise NotFound("no such photo")
    with transaction(engine) as session:
        photo = session.get(Photo, photo_id, with_for_update=True)
        if photo is None or photo.case_id is None:  # unattached: only its uploader sees it
            raise NotFound("no such photo")
        if photo.public != public:
            photo.public = public
            session.add(photo)
            case = session.get_one(Case, photo.case_id)
            case.updated_at = utcnow()
            session.add(case)
            kind = "photo.published" if public else "photo.unpublished"
            record(session, kind, actor_id=principal.user_id, case_id=case.id, photo_id=photo_id)
    return photo


def _may_see(session: Session, principal: Principal, photo: Photo) -> bool:
    """The uploader always; once attached, whoever may see the case."""
    if photo.uploaded_by == principal.user_id:
        return True
    if photo.case_id is None:
        return False
    case = session.get(Case, photo.case_id)
    if case is None:
        return False
    unit_ids = set(session.exec(select(Ticket.unit_id).where(Ticket.case_id == case.id)).all())
    return principal.may_see_case(reporter_id=case.reporter_id, cell=case.cell, unit_ids=unit_ids)


def attach_photos(
    session: Session,
    photo_ids: Iterable[str],
    *,
    owner_id: int,
    case_id: int,
    ticket_id: int | None = None,
    kind: PhotoKind,
) -> list[Photo]:
    """Bind the owner's fresh uploads to a case, inside the caller's transaction.

    Retrying the same attachment is a no-op, so intake retries stay idempotent; a photo
    that is someone else's, unknown, or already used elsewhere is refused by id.
    """
    ids = list(dict.fromkeys(photo_ids))
    if not ids:
        return []
    for photo_id in ids:
        if not _PHOTO_ID.fullmatch(photo_id):
            raise Unprocessable(f"unknown photo {photo_id!r}", details={"photo_id": photo_id})
    query = select(Photo).where(col(Photo.id).in_(ids)).with_for_update()
    rows = {p.id: p for p in session.exec(query).all()}
    for photo_id in ids:
        photo = rows.get(photo_id)
        if photo is None or photo.uploaded_by != owner_id:  # same answer: no probing
            raise Unprocessable(f"unknown photo {photo_id!r}", details={"photo_id": photo_id})
        if photo.case_id is None:
            photo.case_id, photo.ticket_id, photo.kind = case_id, ticket_id, kind
            session.add(photo)
        elif photo.case_id != case_id or photo.kind != kind:
            raise Unprocessable(
                f"photo {photo_id!r} is already attached elsewhere",
                details={"photo_id": photo_id},
            )
    session.flush()
    return [rows[photo_id] for photo_id in ids]

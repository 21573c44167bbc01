"""Photo upload and access (RELIABILITY §4.5 S1 and S8) against a tiny app with only this router."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from dispatch import errors
from dispatch.auth.models import User
from dispatch.auth.principal import Principal
from dispatch.cases.models import Case
from dispatch.catalogue.models import Cell, EventType, GridVersion
from dispatch.config import Settings
from dispatch.db import make_engine, transaction
from dispatch.dbtypes import utcnow
from dispatch.deps import EngineDep, PrincipalDep, SettingsDep
from dispatch.enums import CaseStatus, PhotoKind, Role, TicketRole, TicketStatus
from dispatch.migrate import upgrade
from dispatch.photos.models import Photo
from dispatch.photos.router import router
from dispatch.photos.service import attach_photos, store_photo
from dispatch.tickets.models import Ticket
from dispatch.units.models import Unit

MAX_BYTES = 256 * 1024
URL = "/api/v1/photos"
CELL = "450102001001"

# user ids follow insertion order in _seed
ALICE = Principal(1, "alice", Role.worker, area_prefix="450105")  # the uploader
BOB = Principal(2, "bob", Role.worker, area_prefix="450102")  # the case's cell is in his beat
CAROL = Principal(3, "carol", Role.worker, area_prefix="450199")
TEAM_U1 = Principal(4, "team-u1", Role.team, unit_id="u1")  # the case has a ticket for u1
TEAM_U2 = Principal(5, "team-u2", Role.team, unit_id="u2")

STATUS: dict[type[errors.DomainError], int] = {
    errors.BadRequest: 400,
    errors.NotFound: 404,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMedia: 415,
    errors.Unprocessable: 422,
}


@dataclass
class Env:
    engine: Engine
    settings: Settings
    client: TestClient
    case_id: int
    who: Principal = ALICE

    def upload(self, data: bytes, name: str = "p.jpg", ctype: str = "image/jpeg") -> Any:
        return self.client.post(URL, files={"file": (name, data, ctype)})


def _dependency(alias: Any) -> Any:
    """The callable behind an `Annotated[T, Depends(f)]` alias, whatever the owner names it."""
    return get_args(alias)[1].dependency


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'photos.sqlite'}",
        photo_dir=tmp_path / "photos",
        max_photo_bytes=MAX_BYTES,
        max_photo_pixels=40_000_000,
        photo_max_side=2560,
    )
    upgrade(settings.database_url)  # the schema comes from the migrations, as everywhere
    engine = make_engine(settings.database_url)
    case_id = _seed(engine)

    app = FastAPI()
    app.include_router(router)

    @app.exception_handler(errors.DomainError)
    async def domain_error(_: Request, exc: errors.DomainError) -> JSONResponse:
        status = next((STATUS[c] for c in type(exc).__mro__ if c in STATUS), 500)
        body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
        return JSONResponse(body, status)

    with TestClient(app, raise_server_exceptions=True) as client:
        e = Env(engine, settings, client, case_id)
        app.dependency_overrides[_dependency(EngineDep)] = lambda: engine
        app.dependency_overrides[_dependency(SettingsDep)] = lambda: e.settings
        app.dependency_overrides[_dependency(PrincipalDep)] = lambda: e.who
        yield e
    engine.dispose()


def _seed(engine: Engine) -> int:
    with transaction(engine) as s:
        for p in (ALICE, BOB, CAROL, TEAM_U1, TEAM_U2):
            s.add(User(username=p.username, password_hash="x", role=p.role))
        s.add(Unit(id="u1", kind="cg", area_code="450102", name_zh="一", name_en="one"))
        s.add(Unit(id="u2", kind="cg", area_code="450103", name_zh="二", name_en="two"))
        now = utcnow()
        s.add(GridVersion(id=1, checksum="v1", source="test", cells=1, loaded_at=now,
                          valid_from=now))  # fmt: skip
        s.flush()
        s.add(Cell(code=CELL, community="c", street="s", district="450102", grid_version=1,
                   lon=108.3, lat=22.8))  # fmt: skip
        s.add(EventType(code="0101", standard="GB/T", class_code="01", class_zh="市容",
                        class_en="appearance", name_zh="垃圾", name_en="litter", accept_limit=1,
                        resolve_limit=4, verify_limit=1, limit_unit="hour"))  # fmt: skip
        s.flush()
        case = Case(case_no="C1", event_type="0101", status=CaseStatus.dispatched, lon=108.3,
                    lat=22.8, input_lon=108.3, input_lat=22.8, cell=CELL, community="c",
                    street="s", district="450102", grid_version=1,
                    reporter_id=ALICE.user_id, captured_at=utcnow())  # fmt: skip
        s.add(case)
        s.flush()
        assert case.id is not None
        s.add(Ticket(case_id=case.id, unit_id="u1", role=TicketRole.lead,
                     status=TicketStatus.dispatched, accept_due=utcnow(),
                     resolve_due=utcnow()))  # fmt: skip
        return case.id


# ---------------------------------------------------------------- image makers


def _noise(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    bands = len(mode)
    return Image.frombytes(mode, size, os.urandom(size[0] * size[1] * bands))


def _encode(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def _jpeg_with_gps(size: tuple[int, int], orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0112] = orientation
    exif[0x8825] = {1: "N", 2: (22.0, 49.0, 1.5), 3: "E", 4: (108.0, 19.0, 2.5)}  # GPSInfo
    return _encode(_noise(size), "JPEG", exif=exif, comment=b"secret note")


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny real PNG whose IHDR says width x height (with a valid CRC)."""
    data = bytearray(_encode(Image.new("P", (1, 1)), "PNG"))
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


def _assert_error(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


def _stored(env: Env, photo_id: str) -> bytes:
    return (env.settings.photo_dir / photo_id[:2] / f"{photo_id}.jpg").read_bytes()


# ---------------------------------------------------------------- upload: sanitizing


def test_exif_and_gps_are_stripped_and_orientation_applied(env: Env) -> None:
    original = _jpeg_with_gps((40, 20), orientation=6)
    assert b"SpyCam" in original  # the fixture really carries the metadata

    resp = env.upload(original)

    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert out["content_type"] == "image/jpeg"
    assert out["url"] == f"{URL}/{out['id']}"
    assert (out["width"], out["height"]) == (20, 40)  # rotated upright
    stored = _stored(env, out["id"])
    assert out["size_bytes"] == len(stored)
    assert out["sha256"] == hashlib.sha256(stored).hexdigest()
    with Image.open(io.BytesIO(stored)) as img:
        assert img.format == "JPEG"
        assert img.size == (20, 40)
        assert len(img.getexif()) == 0
        assert img.getexif().get_ifd(0x8825) == {}
        assert not {"exif", "xmp", "icc_profile", "comment"} & set(img.info)
    for marker in (b"Exif", b"SpyCam", b"secret note"):
        assert marker not in stored


@pytest.mark.parametrize(
    ("fmt", "mode"), [("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "P"), ("WEBP", "RGB")]
)
def test_png_and_webp_are_reencoded_to_jpeg(env: Env, fmt: str, mode: str) -> None:
    img = _noise((64, 48)) if mode == "RGB" else _noise((64, 48), "RGBA").convert(mode)
    data = _encode(img, fmt)

    resp = env.upload(data, name="photo.png", ctype="application/octet-stream")

    assert resp.status_code == 201, resp.text
    with Image.open(io.BytesIO(_stored(env, resp.json()["id"]))) as stored:
        assert (stored.format, stored.mode, stored.size) == ("JPEG", "RGB", (64, 48))


def test_large_photo_is_downscaled(env: Env) -> None:
    env.settings = env.settings.model_copy(update={"photo_max_side": 120})
    resp = env.upload(_encode(_noise((300, 100)), "JPEG"))
    assert resp.status_code == 201, resp.text
    assert (resp.json()["width"], resp.json()["height"]) == (120, 40)


# ---------------------------------------------------------------- upload: refusals


def test_oversize_upload_is_413(env: Env) -> None:
    _assert_error(env.upload(b"\xff\xd8\xff" + os.urandom(MAX_BYTES)), 413, "payload_too_large")


def test_oversize_upload_without_content_length_is_413(env: Env) -> None:
    head = b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(2 * MAX_BYTES // 65536):
            yield b"\xff" * 65536
        yield b"\r\n--B--\r\n"

    resp = env.client.post(
        URL, content=body(), headers={"content-type": "multipart/form-data; boundary=B"}
    )
    _assert_error(resp, 413, "payload_too_large")


def test_service_never_reads_past_the_cap(env: Env) -> None:
    class Endless(io.RawIOBase):
        served = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            assert n > 0, "an unbounded read"
            self.served += n
            return b"\xff" * n

    stream = Endless()
    with pytest.raises(errors.PayloadTooLarge):
        store_photo(env.engine, env.settings, ALICE, stream, "image/jpeg")  # type: ignore[arg-type]
    assert stream.served == MAX_BYTES + 1


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("x.jpg", b"this is plain text, not a photo\n" * 20),
        ("x.jpg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("x.jpg", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
        ("x.jpg", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"),
        ("x.gif", _encode(Image.new("P", (8, 8)), "GIF")),
    ],
)
def test_other_formats_are_415(env: Env, name: str, data: bytes) -> None:
    _assert_error(env.upload(data, name=name, ctype="image/jpeg"), 415, "unsupported_media")


def test_truncated_jpeg_is_400(env: Env) -> None:
    data = _encode(_noise((200, 200)), "JPEG", quality=95)
    resp = env.upload(data[: len(data) // 2])
    _assert_error(resp, 400, "bad_request")
    assert resp.json()["error"]["message"] == "not a readable image"


@pytest.mark.parametrize("data", [b"\xff\xd8\xff" + b"garbage" * 50, b"\x89PNG\r\n\x1a\n" + b"x"])
def test_magic_bytes_alone_are_not_enough(env: Env, data: bytes) -> None:
    _assert_error(env.upload(data), 400, "bad_request")


def test_png_header_claiming_20000_square_is_refused(env: Env) -> None:
    resp = env.upload(_png_claiming(20_000, 20_000), name="bomb.png")
    assert resp.status_code in (400, 413), resp.text
    _assert_error(resp, resp.status_code, resp.json()["error"]["code"])


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("size", [(1200, 1000), (3000, 3000)])  # above 1x and above 2x the cap
def test_real_decompression_bomb_is_413(env: Env, size: tuple[int, int]) -> None:
    env.settings = env.settings.model_copy(update={"max_photo_pixels": 1_000_000})
    data = _encode(Image.new("1", size), "PNG", optimize=True)  # a few KB that inflate to Mpx
    assert len(data) < MAX_BYTES
    _assert_error(env.upload(data, name="bomb.png"), 413, "payload_too_large")


def test_empty_missing_and_non_multipart_uploads(env: Env) -> None:
    _assert_error(env.upload(b""), 400, "bad_request")
    _assert_error(env.client.post(URL, files={"other": ("a.jpg", b"x")}), 400, "bad_request")
    _assert_error(env.client.post(URL, content=b"\xff\xd8\xff"), 415, "unsupported_media")


def test_failed_insert_leaves_no_file(env: Env) -> None:
    ghost = Principal(999, "ghost", Role.worker)  # no such user: the foreign key fails
    with pytest.raises(IntegrityError):
        store_photo(env.engine, env.settings, ghost, _encode(_noise((8, 8)), "JPEG"), None)
    assert [p for p in env.settings.photo_dir.rglob("*") if p.is_file()] == []


# ---------------------------------------------------------------- access


def _upload_as_alice(env: Env) -> dict[str, Any]:
    env.who = ALICE
    resp = env.upload(_jpeg_with_gps((32, 32)))
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def _attach(env: Env, photo_ids: list[str], owner: int = ALICE.user_id) -> list[Photo]:
    with transaction(env.engine) as s:
        return attach_photos(
            s, photo_ids, owner_id=owner, case_id=env.case_id, kind=PhotoKind.report
        )


def test_uploader_gets_the_photo(env: Env) -> None:
    out = _upload_as_alice(env)
    resp = env.client.get(out["url"])
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/jpeg"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["cache-control"] == "private, max-age=86400"
    assert hashlib.sha256(resp.content).hexdigest() == out["sha256"]


def test_visibility_follows_the_case_once_attached(env: Env) -> None:
    out = _upload_as_alice(env)
    for other in (BOB, CAROL, TEAM_U1, TEAM_U2):
        env.who = other
        _assert_error(env.client.get(out["url"]), 404, "not_found")

    _attach(env, [out["id"]])

    for who, status in ((ALICE, 200), (BOB, 200), (TEAM_U1, 200), (CAROL, 404), (TEAM_U2, 404)):
        env.who = who
        assert env.client.get(out["url"]).status_code == status, who.username


@pytest.mark.parametrize("photo_id", ["0" * 32, "not-a-photo", "A" * 32, "%2E%2E%5Cx"])
def test_unknown_or_malformed_ids_are_404(env: Env, photo_id: str) -> None:
    _assert_error(env.client.get(f"{URL}/{photo_id}"), 404, "not_found")


def test_path_traversal_does_not_reach_the_disk(env: Env) -> None:
    # %2F decodes to "/", so the router does not match: a plain 404 before any service code
    assert env.client.get(f"{URL}/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_attach_is_idempotent_and_refuses_bad_ids(env: Env) -> None:
    mine = _upload_as_alice(env)["id"]
    env.who = BOB
    bobs = env.upload(_encode(_noise((8, 8)), "JPEG")).json()["id"]

    rows = _attach(env, [mine, mine])
    assert [(p.id, p.case_id, p.kind) for p in rows] == [(mine, env.case_id, PhotoKind.report)]
    assert [p.id for p in _attach(env, [mine])] == [mine]  # a retry changes nothing

    for bad in (bobs, "f" * 32, "nope"):
        with pytest.raises(errors.Unprocessable) as caught:
            _attach(env, [mine, bad])
        assert bad in caught.value.message
    with transaction(env.engine) as s, pytest.raises(errors.Unprocessable):
        attach_photos(s, [mine], owner_id=ALICE.user_id, case_id=env.case_id, kind=PhotoKind.after)
    with transaction(env.engine) as s:
        bob_photo = s.get(Photo, bobs)
        assert bob_photo is not None
        assert bob_photo.case_id is None  # the refused call attached nothing

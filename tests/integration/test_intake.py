"""POST /api/v1/reports on SQLite and PostGIS: routing, idempotency, duplicates, bad input."""

from __future__ import annotations

import io
import threading
import uuid
from typing import Any

import pytest
from apikit import Api
from PIL import Image
from sqlalchemy import delete, func, select
from sqlmodel import Session

from dispatch.cases.models import Case, IdempotencyRecord, Report
from dispatch.feed.models import Event
from dispatch.tickets.models import Ticket
from geo import from_wgs84


def counts(api: Api) -> tuple[int, int, int, int]:
    with Session(api.state.db.engine) as s:
        return tuple(  # type: ignore[return-value]
            s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Case, Report, Ticket, Event)
        )


def test_a_spill_becomes_a_joint_case(api: Api) -> None:
    r = api.report(event_type="06014", where="450103901", k=3)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["status"] == "dispatched"
    assert case["location"]["district"] == "450103"
    assert case["location"]["cell"].startswith("450103901")
    assert case["location"]["street_name"].endswith("（生成）")
    roles = {u["unit_id"]: u["role"] for u in case["units"]}
    assert roles["450103-cgzf"] == "lead"
    assert roles["450103-jj"] == "support"
    assert all(u["status"] == "dispatched" for u in case["units"])
    assert all(u["deadline_state"] == "green" for u in case["units"])
    assert case["joined_existing"] is False
    assert case["case_no"].endswith(f"{case['id']:06d}")
    with Session(api.state.db.engine) as s:
        types = (
            s.execute(select(Event.type).where(Event.case_id == case["id"]).order_by(Event.seq))
            .scalars()
            .all()
        )
    assert types[:2] == ["case.reported", "case.dispatched"]
    assert types.count("ticket.dispatched") == len(case["units"])


def test_same_key_same_body_returns_the_first_answer(api: Api) -> None:
    key = str(uuid.uuid4())
    first = api.report(key=key, k=11)
    before = counts(api)
    again = api.report(key=key, k=11)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert counts(api) == before


def test_same_key_other_body_is_422_and_writes_nothing(api: Api) -> None:
    key = str(uuid.uuid4())
    assert api.report(key=key, k=12).status_code == 201
    before = counts(api)
    r = api.report(key=key, k=12, description="another text")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "idempotency_key_reused"
    assert counts(api) == before


@pytest.mark.parametrize(
    "key", [None, "short", "has space in it", "x" * 256, "ключ-unicode".encode()]
)
def test_missing_or_malformed_key_is_400(api: Api, key: str | bytes | None) -> None:
    lon, lat = api.point_in("450103901")
    headers = api.auth("worker1")
    if key is not None:
        headers = {**headers, "Idempotency-Key": key}
    before = counts(api)
    r = api.client.post(
        "/api/v1/reports", json={"event_type": "06014", "lon": lon, "lat": lat}, headers=headers
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"].startswith("idempotency_key_")
    assert counts(api) == before


def test_keys_are_scoped_per_user(api: Api) -> None:
    key = str(uuid.uuid4())
    a = api.report("worker1", key=key, event_type="09009", k=20)
    b = api.report("worker2", key=key, event_type="09009", where="450103902", k=20)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_a_replay_after_the_record_expired_still_makes_no_second_case(api: Api) -> None:
    key = str(uuid.uuid4())
    first = api.report(key=key, k=30).json()
    with Session(api.state.db.engine) as s, s.begin():  # days later: records were pruned
        s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.key == key))
    before = counts(api)
    late = api.report(key=key, k=30)
    assert late.status_code == 200
    assert late.json()["id"] == first["id"]
    assert counts(api) == before


def test_fifty_concurrent_retries_make_one_case(api: Api) -> None:
    key = str(uuid.uuid4())
    api.auth("worker1")
    barrier = threading.Barrier(50)
    results: list[Any] = []

    def go() -> None:
        barrier.wait()
        results.append(api.report(key=key, k=40))

    threads = [threading.Thread(target=go) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {201, 409}, statuses
    bodies = {r.text for r in results if r.status_code == 201}
    assert len(bodies) == 1
    with Session(api.state.db.engine) as s:
        n = s.execute(
            select(func.count()).select_from(Report).where(Report.client_key == key)
        ).scalar_one()
    assert n == 1


def test_a_nearby_report_of_the_same_type_joins_the_open_case(api: Api) -> None:
    first = api.report("worker1", event_type="06010", where="450102901", k=5).json()
    second = api.report("worker3", event_type="06010", where="450102901", k=5)
    assert second.status_code == 201
    body = second.json()
    assert body["joined_existing"] is True
    assert body["id"] == first["id"]
    assert body["report_count"] == 2
    other_type = api.report("worker3", event_type="06011", where="450102901", k=5).json()
    assert other_type["id"] != first["id"]
    far = api.report("worker3", event_type="06010", where="450102901", k=60).json()
    assert far["id"] != first["id"]


def test_gcj02_points_are_converted_and_the_original_kept(api: Api) -> None:
    lon, lat = api.point_in("450107901", 7)
    glon, glat = from_wgs84(lon, lat, "gcj02")
    headers = {**api.auth("worker1"), "Idempotency-Key": str(uuid.uuid4())}
    r = api.client.post(
        "/api/v1/reports",
        json={"event_type": "07001", "lon": glon, "lat": glat, "crs": "GCJ-02"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    loc = r.json()["location"]
    assert loc["cell"] == api.state.grid.locate(lon, lat).cell
    assert (loc["input_crs"], loc["input_lon"], loc["input_lat"]) == ("gcj02", glon, glat)
    assert loc["lon"] == pytest.approx(lon, abs=1e-9)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"event_type": "06014", "lon": 116.39, "lat": 39.9}, "outside_served_area"),
        ({"event_type": "99999"}, "unknown_event_type"),
        ({"event_type": "06014", "lon": 400, "lat": 22.8}, "invalid_request"),
        ({"event_type": "06014", "crs": "epsg:3857"}, "invalid_request"),
        ({"event_type": "06014", "status": "closed"}, "invalid_request"),
        ({"event_type": "06014", "reporter_id": 1}, "invalid_request"),
        ({"event_type": "06014", "captured_at": "2099-01-01T00:00:00+08:00"}, "captured_in_future"),
        ({"event_type": "06014", "captured_at": "2026-01-01T00:00:00"}, "invalid_request"),
        ({"event_type": "06014", "self_handled": True}, "self_handled_needs_photos"),
        ({"event_type": "06014", "photo_ids": ["0" * 32]}, "unprocessable"),
    ],
)
def test_bad_reports_get_a_clear_4xx_and_write_nothing(
    api: Api, body: dict[str, Any], code: str
) -> None:
    lon, lat = api.point_in("450103901", 50)
    full = {"lon": lon, "lat": lat, **body}
    before = counts(api)
    r = api.client.post(
        "/api/v1/reports",
        json=full,
        headers={**api.auth("worker1"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["code"] == code
    assert set(r.json()["error"]) == {"code", "message", "details"}
    assert counts(api) == before


def test_malformed_json_is_422(api: Api) -> None:
    r = api.client.post(
        "/api/v1/reports",
        content=b"{not json",
        headers={
            **api.auth("worker1"),
            "Idempotency-Key": str(uuid.uuid4()),
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"


def test_only_signed_in_workers_and_dispatchers_report(api: Api) -> None:
    lon, lat = api.point_in("450103901")
    body = {"event_type": "06014", "lon": lon, "lat": lat}
    r = api.client.post("/api/v1/reports", json=body, headers={"Idempotency-Key": "k" * 16})
    assert r.status_code == 401
    r = api.client.post(
        "/api/v1/reports",
        json=body,
        headers={**api.auth("team-450103-cgzf"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 403


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 60, 60)).save(buf, "JPEG")
    return buf.getvalue()


def test_self_handled_report_closes_at_once(api: Api) -> None:
    h = api.auth("worker1")
    ids = [
        api.client.post(
            "/api/v1/photos", files={"file": ("p.jpg", jpeg(), "image/jpeg")}, headers=h
        ).json()["id"]
        for _ in range(2)
    ]
    r = api.report(
        event_type="06010", k=70, self_handled=True, photo_ids=[ids[0]], after_photo_ids=[ids[1]]
    )
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["status"] == "closed"
    assert case["self_handled"] is True
    assert case["units"] == []


def test_defaults_sent_or_not_are_the_same_report(api: Api) -> None:
    key = str(uuid.uuid4())
    first = api.report(key=key, k=80)
    again = api.report(key=key, k=80, crs="wgs84", photo_ids=[], self_handled=False)
    assert again.status_code == 201
    assert again.json() == first.json()


def test_the_answer_lists_the_reports_photos_on_every_path(api: Api) -> None:
    h = api.auth("worker2")
    up = api.client.post(
        "/api/v1/photos", files={"file": ("p.jpg", jpeg(), "image/jpeg")}, headers=h
    ).json()["id"]
    first = api.report("worker1", event_type="06042", where="450103902", k=81).json()
    joined = api.report(
        "worker2", event_type="06042", where="450103902", k=81, photo_ids=[up]
    ).json()
    assert joined["joined_existing"] is True
    assert joined["id"] == first["id"]
    assert joined["photo_ids"] == [up]

"""GET requests and GET request: every filter, the default window, paging, the fields and
what is never shown, public photos, in XML and JSON on SQLite and PostGIS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apikit import Api
from open311kit import BASE, FORMATS, Open311, doc, errors
from sqlalchemy import select, update
from sqlmodel import Session, col

from dispatch.cases.models import Case
from dispatch.db import transaction
from dispatch.feed.models import Event


@dataclass
class Filed:
    """Requests of known kinds: two filed through Open311, one by a grid worker, one
    rejected (closed), one from 100 days ago."""

    garbage: str
    building: str
    worker: str
    rejected: str
    old: str
    at: datetime


def case_of(api: Api, case_no: str) -> Case:
    with Session(api.state.db.engine) as s:
        return s.execute(select(Case).where(col(Case.case_no) == case_no)).scalars().one()


@pytest.fixture(scope="module")
def o311(api: Api) -> Open311:
    return Open311(api, "requests-reader")


@pytest.fixture(scope="module")
def filed(api: Api, o311: Open311) -> Filed:
    garbage = o311.file("450102901", event="06010", description="垃圾")
    building = o311.file("450102902", event="06001", description="违建")
    lon, lat = api.free_point("450103904")
    r = api.report("worker1", event_type="06012", lon=lon, lat=lat)
    assert r.status_code == 201, r.text
    worker = r.json()["case_no"]
    rejected = o311.file("450102903", event="06010", description="已清理")
    api.ok("dispatcher", f"/cases/{case_of(api, rejected).id}/reject", {"reason": "现场无此问题"})
    old = o311.file("450102904", event="06010", description="旧案")
    long_ago = datetime.now(UTC) - timedelta(days=100)
    with transaction(api.state.db.engine) as s:
        s.execute(
            update(Case)
            .where(col(Case.case_no) == old)
            .values(created_at=long_ago, updated_at=long_ago)
        )
    return Filed(garbage, building, worker, rejected, old, long_ago)


def listed(o311: Open311, fmt: str = "json", **params: Any) -> list[dict[str, Any]]:
    r = o311.get("requests", fmt, **params)
    assert r.status_code == 200, r.text
    items = doc(r, fmt, "service_requests")
    return items or []  # XML: an empty <service_requests/>


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["service_request_id"] for i in items]


def w3(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_default_is_the_last_90_days_newest_first(
    o311: Open311, filed: Filed, fmt: str
) -> None:
    items = listed(o311, fmt)
    found = ids(items)
    assert {filed.garbage, filed.building, filed.worker, filed.rejected} <= set(found)
    assert filed.old not in found
    times = [i["requested_datetime"] for i in items]
    assert times == sorted(times, reverse=True)
    for item in items:
        assert item["status"] in ("open", "closed")
        assert item["service_code"]
        assert item["requested_datetime"].endswith("Z")


def test_empty_parameters_are_the_same_as_none(o311: Open311, filed: Filed) -> None:
    empty = dict.fromkeys(("status", "service_code", "start_date", "end_date", "page"), "")
    assert ids(listed(o311, **empty)) == ids(listed(o311))


@pytest.mark.parametrize("fmt", FORMATS)
def test_status_maps_the_workflow_to_open_and_closed(o311: Open311, filed: Filed, fmt: str) -> None:
    open_ = ids(listed(o311, fmt, status="open"))
    closed = ids(listed(o311, fmt, status="closed"))
    assert {filed.garbage, filed.building, filed.worker} <= set(open_)
    assert filed.rejected in closed
    assert not set(open_) & set(closed)
    assert set(ids(listed(o311, fmt, status="open,closed"))) == set(open_) | set(closed)
    rejected = next(
        i for i in listed(o311, fmt, status="closed") if i["service_request_id"] == filed.rejected
    )
    assert rejected["status_notes"] == "不予立案"


def test_a_bad_status_is_400(o311: Open311) -> None:
    (message,) = errors(o311.get("requests", "xml", status="opened"), "xml", 400)
    assert "opened" in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_code_takes_a_list(o311: Open311, filed: Filed, fmt: str) -> None:
    items = listed(o311, fmt, service_code="06001,06012")
    assert {filed.building, filed.worker} <= set(ids(items))
    assert {i["service_code"] for i in items} <= {"06001", "06012"}
    assert ids(listed(o311, fmt, service_code="99999")) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_request_id_overrides_every_other_filter(
    o311: Open311, filed: Filed, fmt: str
) -> None:
    items = listed(
        o311, fmt, service_request_id=f"{filed.old},{filed.garbage}", status="closed",
        service_code="06001",
    )  # fmt: skip
    assert set(ids(items)) == {filed.old, filed.garbage}


@pytest.mark.parametrize("fmt", FORMATS)
def test_start_and_end_date_filter_on_requested_time(o311: Open311, filed: Filed, fmt: str) -> None:
    around = {
        "start_date": w3(filed.at - timedelta(days=1)),
        "end_date": w3(filed.at + timedelta(days=1)),
    }
    assert ids(listed(o311, fmt, **around)) == [filed.old]
    only_start = listed(o311, fmt, start_date=w3(filed.at - timedelta(hours=1)))
    assert filed.old in ids(only_start)  # start + 90 days: up to ten days ago
    assert filed.garbage not in ids(only_start)
    only_end = listed(o311, fmt, end_date=w3(filed.at + timedelta(days=5)))
    assert ids(only_end) == [filed.old]  # the 90 days before end_date


def test_dates_may_carry_any_zone(o311: Open311, filed: Filed) -> None:
    local = (filed.at - timedelta(days=1)).astimezone(datetime.now().astimezone().tzinfo)
    beijing = (filed.at + timedelta(days=1)).astimezone(UTC) + timedelta(hours=8)
    end = beijing.strftime("%Y-%m-%dT%H:%M:%S") + " 08:00"  # an unencoded "+" arrives as a space
    assert ids(listed(o311, start_date=local.isoformat(), end_date=end)) == [filed.old]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-02T00:00:00Z"}, "90 days"),
        ({"start_date": "2026-03-02T00:00:00Z", "end_date": "2026-03-01T00:00:00Z"}, "before"),
        ({"start_date": "2026-03-02T08:00:00"}, "time zone"),
        ({"end_date": "yesterday"}, "time zone"),
        (
            {"updated_after": "2026-03-02T00:00:00Z", "updated_before": "2026-03-01T00:00:00Z"},
            "before",
        ),
        ({"page": "0"}, "page"),
        ({"page_size": "1001"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"service_request_id": ",".join(["1"] * 1001)}, "service_request_id"),
    ],
)
def test_bad_filters_are_400(o311: Open311, fmt: str, params: dict[str, str], says: str) -> None:
    (message,) = errors(o311.get("requests", fmt, **params), fmt, 400)
    assert says in message


def test_several_bad_filters_are_listed_together(o311: Open311) -> None:
    found = errors(o311.get("requests", "json", status="x", page="0", end_date="x"), "json", 400)
    assert len(found) == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_pages(o311: Open311, filed: Filed, fmt: str) -> None:
    everything = ids(listed(o311, fmt))
    assert len(everything) >= 4
    first = ids(listed(o311, fmt, page_size="2"))
    second = ids(listed(o311, fmt, page_size="2", page="2"))
    assert first + second == everything[:4]
    assert ids(listed(o311, fmt, page="999", page_size="1000")) == []


def test_updated_after_and_before_filter_on_the_last_change(
    api: Api, o311: Open311, filed: Filed
) -> None:
    now = datetime.now(UTC)
    with transaction(api.state.db.engine) as s:  # both were last changed an hour ago
        s.execute(
            update(Case)
            .where(col(Case.case_no).in_([filed.garbage, filed.building]))
            .values(updated_at=now - timedelta(hours=1))
        )
    cut = w3(now - timedelta(minutes=10))
    inbox = api.get("team-450102-hw", "/tickets").json()["items"]
    ticket = next(t for t in inbox if t["case"]["case_no"] == filed.garbage)
    api.ok("team-450102-hw", f"/tickets/{ticket['ticket_id']}/accept", {})  # a change now
    after = ids(listed(o311, updated_after=cut))
    assert filed.garbage in after
    assert filed.building not in after
    assert filed.old not in after
    before = ids(listed(o311, updated_before=cut))
    assert {filed.building, filed.old} <= set(before)  # no 90-day window by update time
    assert filed.garbage not in before
    between = listed(o311, updated_after=cut, updated_before=w3(now + timedelta(minutes=1)))
    assert filed.garbage in ids(between)


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_request_and_its_fields(api: Api, o311: Open311, filed: Filed, fmt: str) -> None:
    r = o311.get(f"requests/{filed.building}", fmt)
    assert r.status_code == 200
    (req,) = doc(r, fmt, "service_requests")
    case = api.get("dispatcher", f"/cases/{case_of(api, filed.building).id}").json()
    lead = next(u for u in case["units"] if u["role"] == "lead")
    assert req["service_request_id"] == filed.building
    assert req["status"] == "open"
    assert req["status_notes"] == "已立案派遣，责任单位处置中"
    assert req["service_code"] == "06001"
    assert req["service_name"] == "私搭乱建"
    assert req["description"] == "违建"
    assert req["agency_responsible"] == lead["unit_name_zh"]
    assert req["expected_datetime"] == lead["resolve_due"][:19] + "Z"
    assert req["requested_datetime"] == case["created_at"][:19] + "Z"
    loc = case["location"]
    assert (
        req["address"] == f"{loc['community_name']}, {loc['street_name']}, {loc['district_name']}"
    )
    assert req["address_id"] == loc["cell"]
    assert (float(req["lat"]), float(req["long"])) == (loc["lat"], loc["lon"])
    assert req["zipcode"] is None
    assert req["media_url"] is None
    en = doc(o311.get(f"requests/{filed.building}", fmt, lang="en"), fmt)[0]
    assert en["agency_responsible"] == lead["unit_name_en"]
    assert en["service_name"] == "Unauthorized structures / illegal construction"


def test_json_types_of_a_request(o311: Open311, filed: Filed) -> None:
    (req,) = o311.get(f"requests/{filed.building}", "json").json()
    assert isinstance(req["lat"], float)
    assert isinstance(req["long"], float)
    assert req["zipcode"] is None
    assert isinstance(req["service_request_id"], str)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unknown_request_is_404(o311: Open311, fmt: str) -> None:
    (message,) = errors(o311.get("requests/20990101-999999", fmt), fmt, 404)
    assert "20990101-999999" in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_reporter_is_ever_shown(o311: Open311, filed: Filed, fmt: str) -> None:
    text = o311.get("requests", fmt).text + o311.get(f"requests/{filed.worker}", fmt).text
    assert filed.worker in text
    for name in ("worker1", "open311-", "requests-reader", "reporter"):
        assert name not in text


# ---------------------------------------------------------------- public photos


def test_media_url_shows_only_photos_a_dispatcher_made_public(api: Api, o311: Open311) -> None:
    photo = api.photo("worker2")
    lon, lat = api.free_point("450105902")
    r = api.report("worker2", event_type="06010", lon=lon, lat=lat, photo_ids=[photo])
    assert r.status_code == 201, r.text
    case_no, case_id = r.json()["case_no"], r.json()["id"]
    assert read(o311, case_no)["media_url"] is None
    errors(api.client.get(f"{BASE}/media/{photo}.jpg"), "xml", 404)
    assert api.post("worker2", f"/photos/{photo}/public", {"public": True}).status_code == 403
    before = read(o311, case_no)["updated_datetime"]
    out = api.ok("dispatcher", f"/photos/{photo}/public", {"public": True})
    assert out == {"id": photo, "case_id": case_id, "public": True}
    url = read(o311, case_no)["media_url"]
    assert url == f"http://testserver{BASE}/media/{photo}.jpg"
    assert read(o311, case_no)["updated_datetime"] >= before
    image = api.client.get(url)  # no credentials
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content[:3] == b"\xff\xd8\xff"
    with Session(api.state.db.engine) as s:
        kinds = s.execute(select(Event.type).where(col(Event.case_id) == case_id)).scalars().all()
    assert "photo.published" in kinds
    api.ok("dispatcher", f"/photos/{photo}/public", {"public": False})
    assert read(o311, case_no)["media_url"] is None
    errors(api.client.get(url), "xml", 404)


def test_only_attached_photos_can_be_made_public(api: Api) -> None:
    loose = api.photo("worker2")
    assert api.post("dispatcher", f"/photos/{loose}/public", {"public": True}).status_code == 404
    assert api.post("dispatcher", "/photos/nothing/public", {"public": True}).status_code == 404


def read(o311: Open311, case_no: str) -> dict[str, Any]:
    (req,) = o311.get(f"requests/{case_no}", "json").json()
    return dict(req)

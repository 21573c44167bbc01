"""POST requests: every rule of the spec in XML and JSON, answers to the questions,
idempotency and deduplication through the app's intake, on SQLite and PostGIS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apikit import Api
from open311kit import BASE, FORMATS, Open311, doc, errors
from sqlalchemy import func, select
from sqlmodel import Session, col

from dispatch.cases.models import Case, Report
from dispatch.open311 import filing
from dispatch.open311.keys import principal_for_key

PERSONAL = {
    "email": "zhang.san@example.com",
    "first_name": "三",
    "last_name": "张",
    "phone": "13800138000",
    "device_id": "device-7f3a",
    "account_id": "acct-99",
}


@pytest.fixture(scope="module")
def o311(api: Api) -> Open311:
    return Open311(api, "hotline-12345")


def reports(api: Api, o311: Open311) -> list[Report]:
    """The reports filed by the client's service account, oldest first."""
    principal = principal_for_key(api.state.db.engine, o311.key)
    assert principal is not None
    with Session(api.state.db.engine) as s:
        query = select(Report).where(col(Report.reporter_id) == principal.user_id)
        return list(s.execute(query.order_by(col(Report.id))).scalars())


def case_by_no(api: Api, case_no: str) -> Case:
    with Session(api.state.db.engine) as s:
        return s.execute(select(Case).where(col(Case.case_no) == case_no)).scalars().one()


def read_back(o311: Open311, request_id: str, fmt: str = "json", **params: Any) -> Any:
    r = o311.get(f"requests/{request_id}", fmt, **params)
    assert r.status_code == 200, r.text
    (req,) = doc(r, fmt, "service_requests")
    return req


# ---------------------------------------------------------------- success


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_post_files_a_located_routed_report(api: Api, o311: Open311, fmt: str) -> None:
    lon, lat = api.free_point("450103901")
    before = len(reports(api, o311))
    r = o311.post(fmt, service_code="06010", lat=lat, long=lon, description="路边暴露垃圾")
    assert r.status_code == 201, r.text
    (req,) = doc(r, fmt, "service_requests")
    assert set(req) == {"service_request_id", "service_notice", "account_id"}  # no token
    assert req["account_id"] is None
    assert "青秀区市容环卫站" in req["service_notice"]
    case = case_by_no(api, req["service_request_id"])
    assert case.event_type == "06010"
    assert case.cell == api.state.grid.locate(lon, lat).cell
    assert case.description == "路边暴露垃圾"
    assert case.status == "dispatched"
    assert len(reports(api, o311)) == before + 1
    if fmt == "json":
        assert isinstance(r.json(), list)
        assert len(r.json()) == 1


def test_the_notice_follows_accept_language(api: Api, o311: Open311) -> None:
    lon, lat = api.free_point("450103901")
    r = api.client.post(
        f"{BASE}/requests.json",
        data={"api_key": o311.key, "service_code": "06010", "lat": lat, "long": lon},
        headers={"Accept-Language": "en"},
    )
    assert r.status_code == 201, r.text
    assert "Qingxiu District Sanitation" in r.json()[0]["service_notice"]
    assert r.headers["content-language"] == "en"


def test_the_api_key_may_come_in_the_query(api: Api, o311: Open311) -> None:
    lon, lat = api.free_point("450103901")
    r = api.client.post(
        f"{BASE}/requests.xml?api_key={o311.key}",
        data={"service_code": "06010", "lat": lat, "long": lon},
    )
    assert r.status_code == 201, r.text


def test_address_id_is_a_unit_cell_code(api: Api, o311: Open311) -> None:
    lon, lat = api.free_point("450103903")  # keeps other tests' reports away from this cell
    cell = api.state.grid.locate(lon, lat).cell
    r = o311.post(service_code="06001", address_id=cell, lat="", long="")  # empty ≡ absent
    assert r.status_code == 201, r.text
    req = read_back(o311, r.json()[0]["service_request_id"])
    assert req["address_id"] == cell
    assert api.state.grid.locate(float(req["long"]), float(req["lat"])).cell == cell


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["", "not-a-key"])
def test_a_post_without_a_valid_key_is_403(api: Api, o311: Open311, fmt: str, key: str) -> None:
    lon, lat = api.free_point("450103901")
    before = len(reports(api, o311))
    r = o311.post(fmt, key=key, service_code="06010", lat=lat, long=lon)
    (message,) = errors(r, fmt, 403)
    assert "api_key" in message
    assert len(reports(api, o311)) == before


def test_the_key_is_checked_before_the_fields(o311: Open311) -> None:
    errors(o311.post("xml", key=""), "xml", 403)


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_code_missing_is_400_unknown_is_404(api: Api, o311: Open311, fmt: str) -> None:
    lon, lat = api.free_point("450103901")
    assert "service_code is required" in errors(o311.post(fmt, lat=lat, long=lon), fmt, 400)
    (message,) = errors(o311.post(fmt, service_code="00000", lat=lat, long=lon), fmt, 404)
    assert "00000" in message


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("where", "says"),
    [
        ({}, "a location is required"),
        ({"lat": "22.8"}, "together"),
        ({"long": "108.3"}, "together"),
        ({"lat": "north", "long": "108.3"}, "decimal degrees"),
        ({"lat": "95", "long": "108.3"}, "±90"),
        ({"lat": "nan", "long": "108.3"}, "±90"),
        ({"address_string": "青秀区民族大道100号"}, "no geocoder"),
        ({"address_id": "999"}, "unit-cell code"),
        ({"lat": "39.9", "long": "116.39"}, "outside"),
    ],
)
def test_locations_that_cannot_be_placed_are_400(
    api: Api, o311: Open311, fmt: str, where: dict[str, str], says: str
) -> None:
    before = len(reports(api, o311))
    (message,) = errors(o311.post(fmt, service_code="06001", **where), fmt, 400)
    assert says in message
    assert len(reports(api, o311)) == before


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("answers", "says"),
    [
        ({}, "attribute[still_spilling] (是否仍在撒漏) is required"),
        ({"still_spilling": ""}, "is required"),
        ({"still_spilling": "maybe"}, "'maybe' is not one of yes, no, unknown"),
        ({"still_spilling": ["yes", "no"]}, "takes one value"),
        ({"still_spilling": "yes", "area_m2": "lots"}, "'lots' is not a number"),
        ({"still_spilling": "yes", "area_m2": "inf"}, "not a finite number"),
        ({"still_spilling": "yes", "plate_no": "桂" * 201}, "at most 200 characters"),
        ({"still_spilling": "yes", "material": ["muck", "sand"]}, "takes one value"),
    ],
)
def test_answers_are_checked_against_the_definition(
    api: Api, o311: Open311, fmt: str, answers: dict[str, Any], says: str
) -> None:
    lon, lat = api.free_point("450103901")
    r = o311.post(fmt, service_code="06014", lat=lat, long=lon, attribute=answers)
    (message,) = errors(r, fmt, 400)
    assert says in message


def test_a_multivaluelist_refuses_an_unknown_value(api: Api, o311: Open311) -> None:
    lon, lat = api.free_point("450103901")
    answers = {"violations": ["overload", "speeding"]}
    r = o311.post("xml", service_code="08011", lat=lat, long=lon, attribute=answers)
    (message,) = errors(r, "xml", 400)
    assert "speeding not among overload, uncovered, muddy, no_permit" in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_problem_is_listed_at_once(o311: Open311, fmt: str) -> None:
    r = o311.post(
        fmt,
        service_code="06014",
        lat="22.8",
        description="x" * 4001,
        media_url="ftp://example.com/a.jpg",
        attribute={"area_m2": "lots"},
    )
    found = errors(r, fmt, 400)
    assert len(found) == 5
    for says in ("together", "4000", "media_url", "still_spilling", "area_m2"):
        assert any(says in m for m in found), (says, found)


def test_description_limit_is_4000_characters(api: Api, o311: Open311) -> None:
    text = "长" * 4000
    rid = o311.file("450105901", event="06001", description=text)
    assert read_back(o311, rid)["description"] == text
    lon, lat = api.free_point("450105901")
    errors(o311.post(service_code="06001", lat=lat, long=lon, description=text + "长"), "json", 400)


def test_description_and_answers_must_fit_together(api: Api, o311: Open311) -> None:
    lon, lat = api.free_point("450105901")
    answers = {"still_spilling": "yes"}
    r = o311.post(
        service_code="06014", lat=lat, long=lon, description="x" * 3990, attribute=answers
    )
    (message,) = errors(r, "json", 400)
    assert "together" in message


def test_a_form_with_a_file_is_refused(api: Api, o311: Open311) -> None:
    r = api.client.post(
        f"{BASE}/requests.json",
        data={"api_key": o311.key, "service_code": "06001"},
        files={"media": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")},
    )
    (message,) = errors(r, "json", 400)
    assert "form" in message


# ---------------------------------------------------------------- answers and text


@pytest.mark.parametrize("fmt", FORMATS)
def test_multi_value_answers_are_stored_and_shown_back(api: Api, o311: Open311, fmt: str) -> None:
    answers = {"violations": ["muddy", "overload"], "plate_no": "桂A·12345", "note": "x"}
    rid = o311.file(event="08011", attribute=answers)
    req = read_back(o311, rid, fmt, extensions="true")
    assert req["attributes"] == [
        {"code": "plate_no", "values": ["桂A·12345"]},
        {"code": "violations", "values": ["overload", "muddy"]},  # the definition's order
    ]
    assert req["extended_attributes"]["workflow_status"] == "dispatched"
    assert req["description"].endswith(
        "【补充信息】车牌号：桂A·12345；看到的问题：装载过量（超载）、车体不洁、车轮带泥"
    )
    report = next(r for r in reports(api, o311) if r.case_id == case_by_no(api, rid).id)
    extra = json.loads(report.extra or "{}")
    assert extra["attributes"] == {"plate_no": "桂A·12345", "violations": ["overload", "muddy"]}
    assert extra["client"] == "hotline-12345"
    assert "note" not in extra["attributes"]  # an unknown code is ignored
    assert "attributes" not in read_back(o311, rid, fmt)  # only with extensions=true


def test_answers_to_a_notice_are_ignored(o311: Open311) -> None:
    rid = o311.file(event="08001", attribute={"night_rule": "x", "ongoing": "yes"})
    req = read_back(o311, rid, extensions="true")
    assert req["attributes"] == [{"code": "ongoing", "values": ["yes"]}]


@pytest.mark.parametrize(("post_fmt", "read_fmt"), [("xml", "json"), ("json", "xml")])
def test_chinese_text_round_trips(o311: Open311, post_fmt: str, read_fmt: str) -> None:
    text = "泥头车撒漏 <严重> & \"危险\" 'x'\n第二行：民族大道🚚"
    lon, lat = o311.api.free_point("450107901")
    r = o311.post(post_fmt, service_code="06001", lat=lat, long=lon, description=text)
    assert r.status_code == 201, r.text
    (req,) = doc(r, post_fmt, "service_requests")
    back = read_back(o311, req["service_request_id"], read_fmt)
    assert back["description"] == text
    assert back["service_name"] == "私搭乱建"


def test_characters_xml_cannot_carry_are_replaced_in_xml_only(o311: Open311) -> None:
    rid = o311.file("450107901", event="06001", description="a\x01b")
    assert read_back(o311, rid, "json")["description"] == "a\x01b"
    assert read_back(o311, rid, "xml")["description"] == "a\ufffdb"


def test_media_url_is_checked_and_shown_back(o311: Open311) -> None:
    url = "https://hotline.example.com/media/1.jpg"
    rid = o311.file("450107901", event="06001", media_url=url)
    assert read_back(o311, rid)["media_url"] == url


def test_personal_data_is_dropped(api: Api, o311: Open311) -> None:
    rid = o311.file("450107902", event="06001", description="有人乱搭", **PERSONAL)
    case = case_by_no(api, rid)
    report = next(r for r in reports(api, o311) if r.case_id == case.id)
    shown = "".join(
        o311.get(path, fmt, **params).text
        for fmt in FORMATS
        for path, params in ((f"requests/{rid}", {"extensions": "true"}), ("requests", {}))
    )
    for value in PERSONAL.values():
        assert value not in f"{case.description} {report.description} {report.extra} {shown}"
    assert "有人乱搭" in shown
    assert "hotline-12345" not in shown  # nor the client's service account


# ---------------------------------------------------------------- one report per request


def test_an_identical_post_returns_the_same_request(api: Api, o311: Open311) -> None:
    lon, lat = api.free_point("450108901")
    form = {"service_code": "06014", "lat": lat, "long": lon, "description": "撒漏"}
    answers = {"still_spilling": "yes"}
    first = o311.post("xml", **form, attribute=answers)
    count = len(reports(api, o311))
    again = o311.post("json", **form, attribute=answers)
    assert again.status_code == 201
    assert doc(first, "xml")[0]["service_request_id"] == again.json()[0]["service_request_id"]
    assert len(reports(api, o311)) == count
    other = o311.post("json", **{**form, "description": "撒漏，范围很大"}, attribute=answers)
    assert other.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]
    assert "并入" in other.json()[0]["service_notice"]  # a second report, joined as duplicate
    assert len(reports(api, o311)) == count + 1
    assert case_by_no(api, again.json()[0]["service_request_id"]).report_count == 2


def test_the_repeat_window_spans_a_bucket_edge(
    api: Api, o311: Open311, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = timedelta(minutes=api.state.settings.open311_repeat_window_minutes)
    edge = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert edge.timestamp() % window.total_seconds() == 0
    lon, lat = api.free_point("450108902")
    form = {"service_code": "06001", "lat": lat, "long": lon, "description": "边界"}

    def post_at(t: datetime) -> str:
        monkeypatch.setattr(filing, "utcnow", lambda: t)
        r = o311.post(**form)
        assert r.status_code == 201, r.text
        return str(r.json()[0]["service_request_id"])

    count = len(reports(api, o311))
    first = post_at(edge - timedelta(seconds=1))
    assert post_at(edge + timedelta(seconds=1)) == first
    assert post_at(edge + window - timedelta(seconds=1)) == first
    assert len(reports(api, o311)) == count + 1
    post_at(edge + 2 * window + timedelta(seconds=1))  # out of the window: a new report
    assert len(reports(api, o311)) == count + 2


def test_two_clients_reporting_one_spill_share_one_case(api: Api, o311: Open311) -> None:
    other = Open311(api, "citizen-app")
    lon, lat = api.free_point("450108903")
    answers = {"still_spilling": "yes"}
    a = o311.post(service_code="06014", lat=lat, long=lon, attribute=answers).json()[0]
    b = other.post(service_code="06014", lat=lat + 0.0001, long=lon, attribute=answers).json()[0]
    assert a["service_request_id"] == b["service_request_id"]
    assert "并入" in b["service_notice"]
    case = case_by_no(api, a["service_request_id"])
    assert case.report_count == 2
    with Session(api.state.db.engine) as s:
        reporters = s.execute(
            select(func.count(func.distinct(col(Report.reporter_id)))).where(
                col(Report.case_id) == case.id
            )
        ).scalar_one()
    assert reporters == 2

"""Open311 discovery, services, service definitions and the spec's cross-cutting rules,
in XML and JSON, on SQLite and PostGIS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from apikit import Api
from open311kit import BASE, CONTENT_TYPES, FORMATS, Open311, doc, errors

TRUCK_AND_PARKING_TYPES = {"06014", "08011", "NN-X02", "NN-X04", "NN-X05", "09009"}


@pytest.fixture(scope="module")
def o311(api: Api) -> Open311:
    return Open311(api, "catalogue-reader")


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery_names_the_endpoint_and_its_formats(o311: Open311, fmt: str) -> None:
    r = o311.get("discovery", fmt)
    assert r.status_code == 200
    d = doc(r, fmt, "discovery")
    assert d["contact"]
    assert "open311-key create" in d["key_service"]
    changeset = datetime.fromisoformat(d["changeset"].replace("Z", "+00:00"))
    assert changeset <= datetime.now(UTC)
    (endpoint,) = d["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["type"] == "production"
    assert endpoint["changeset"] == d["changeset"]
    assert endpoint["formats"] == ["text/xml", "application/json"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_services_are_the_event_catalogue(api: Api, o311: Open311, fmt: str) -> None:
    r = o311.get("services", fmt)
    assert r.status_code == 200
    services = doc(r, fmt, "services")
    city = api.state.city.event_types
    assert [s["service_code"] for s in services] != []
    assert {s["service_code"] for s in services} == set(city)
    assert len(services) == len(city)
    by_code = {s["service_code"]: s for s in services}
    spill = by_code["06014"]
    assert spill["service_name"] == "道路遗撒（洒）"
    assert spill["group"] == "市容环境"
    assert spill["type"] == "realtime"
    assert "紧急" in spill["keywords"].split(",")
    assert "120 分钟" in spill["description"]
    with_questions = {c for c, s in by_code.items() if s["metadata"] == "true"}
    assert with_questions >= TRUCK_AND_PARKING_TYPES
    assert with_questions == set(api.state.services.questions)
    assert by_code["06001"]["metadata"] == "false"
    assert r.headers["content-language"] == "zh-CN"


def test_services_json_is_an_array_with_real_booleans(o311: Open311) -> None:
    services = o311.get("services", "json").json()
    assert isinstance(services, list)
    assert all(isinstance(s["metadata"], bool) for s in services)


@pytest.mark.parametrize(
    ("accept", "lang"),
    [
        ("en-US,en;q=0.9", "en"),
        ("en-GB", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("fr, en;q=0.5, zh-TW;q=0.8", "zh"),
        ("de", "zh"),
        ("en;q=0", "zh"),
    ],
)
def test_accept_language_picks_the_names(api: Api, o311: Open311, accept: str, lang: str) -> None:
    et = api.state.city.event_types["06014"]
    r = o311.get("services", "xml", lang=accept)
    spill = next(s for s in doc(r, "xml", "services") if s["service_code"] == "06014")
    assert spill["service_name"] == (et.name_en if lang == "en" else et.name_zh)
    assert spill["group"] == (et.class_en if lang == "en" else et.class_zh)
    assert r.headers["content-language"] == ("en" if lang == "en" else "zh-CN")


@pytest.mark.parametrize("fmt", FORMATS)
def test_definition_lists_the_questions_in_order(o311: Open311, fmt: str) -> None:
    r = o311.get("services/06014", fmt)
    assert r.status_code == 200
    d = doc(r, fmt, "service_definition")
    assert d["service_code"] == "06014"
    attrs = d["attributes"]
    assert [a["code"] for a in attrs] == ["still_spilling", "plate_no", "material", "area_m2"]
    assert [int(a["order"]) for a in attrs] == [1, 2, 3, 4]
    first = attrs[0]
    assert (first["variable"], first["required"]) == ("true", "true")
    assert first["datatype"] == "singlevaluelist"
    assert first["description"] == "是否仍在撒漏"
    assert first["values"][0] == {"key": "yes", "name": "是，仍在撒漏"}
    plate = attrs[1]
    assert (plate["datatype"], plate["required"]) == ("string", "false")
    assert plate["datatype_description"].startswith("看不清可不填")
    assert attrs[3]["datatype"] == "number"


def test_definition_in_english_and_json_types(o311: Open311) -> None:
    r = o311.get("services/08011", "json", lang="en")
    d = r.json()
    assert isinstance(d, dict)
    violations = next(a for a in d["attributes"] if a["code"] == "violations")
    assert violations["datatype"] == "multivaluelist"
    assert violations["variable"] is True
    assert violations["required"] is False
    assert violations["order"] == 2
    assert [v["key"] for v in violations["values"]] == [
        "overload",
        "uncovered",
        "muddy",
        "no_permit",
    ]
    assert violations["values"][0]["name"] == "Overloaded"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_notice_is_an_attribute_that_is_not_variable(o311: Open311, fmt: str) -> None:
    attrs = doc(o311.get("services/08001", fmt), fmt)["attributes"]
    notice = next(a for a in attrs if a["code"] == "night_rule")
    assert notice["variable"] == "false"
    assert notice["required"] == "false"
    assert "22:00" in notice["description"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_type_without_questions_has_an_empty_definition(o311: Open311, fmt: str) -> None:
    r = o311.get("services/06001", fmt)
    assert r.status_code == 200
    d = doc(r, fmt, "service_definition")
    assert d["service_code"] == "06001"
    assert d["attributes"] in ([], None)  # XML: an empty <attributes/>
    if fmt == "json":
        assert r.json()["attributes"] == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_service_code_is_404(o311: Open311, fmt: str) -> None:
    (message,) = errors(o311.get("services/99999", fmt), fmt, 404)
    assert "99999" in message


def test_error_json_is_an_array_of_code_and_description(o311: Open311) -> None:
    r = o311.get("services/99999", "json")
    assert r.json() == [{"code": 404, "description": "service_code '99999' not found"}]


@pytest.mark.parametrize("path", ["services", "services/06014", "requests", "discovery"])
def test_an_unknown_format_is_400_in_xml(o311: Open311, path: str) -> None:
    r = o311.get(path, "html")
    (message,) = errors(r, "xml", 400)
    assert "html" in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_jurisdiction_id_ours_or_absent_or_empty(o311: Open311, fmt: str) -> None:
    for value in ("nanning.gov.cn", "NANNING.gov.cn", ""):
        r = o311.get("services", fmt, jurisdiction_id=value)
        assert r.status_code == 200, (value, r.text)
    (message,) = errors(o311.get("services", fmt, jurisdiction_id="sfgov.org"), fmt, 404)
    assert "sfgov.org" in message


@pytest.mark.parametrize(
    "path", ["services/06014", "requests", "requests/20260101-000001", "tokens/abc"]
)
def test_every_method_refuses_another_jurisdiction(o311: Open311, path: str) -> None:
    errors(o311.get(path, "xml", jurisdiction_id="city.gov"), "xml", 404)


def test_a_post_for_another_jurisdiction_is_404(o311: Open311) -> None:
    lon, lat = o311.api.free_point("450103902")
    r = o311.post("xml", service_code="06001", lat=lat, long=lon, jurisdiction_id="city.gov")
    errors(r, "xml", 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_tokens_do_not_exist_on_a_realtime_server(o311: Open311, fmt: str) -> None:
    (message,) = errors(o311.get("tokens/123456", fmt), fmt, 404)
    assert "realtime" in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_paths_and_methods_answer_in_the_spec_shape(o311: Open311, fmt: str) -> None:
    client = o311.api.client
    errors(client.get(f"{BASE}/nothing.{fmt}"), fmt, 404)
    errors(client.delete(f"{BASE}/requests.{fmt}"), fmt, 400)
    errors(client.post(f"{BASE}/services.{fmt}"), fmt, 400)


def test_the_app_api_keeps_its_own_error_shape(o311: Open311) -> None:
    r = o311.api.client.get("/api/v1/nothing")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_open311_stays_out_of_the_openapi_schema(o311: Open311) -> None:
    paths = o311.api.client.get("/openapi.json").json()["paths"]
    assert not any(p.startswith(BASE) for p in paths)
    assert "/api/v1/photos/{photo_id}/public" in paths


def test_content_types_are_exactly_the_specs(o311: Open311) -> None:
    for fmt in FORMATS:
        assert o311.get("services", fmt).headers["content-type"] == CONTENT_TYPES[fmt]

"""Responsibility routing: specificity order, unit lookup, errors and coverage checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.citydata import CityData, CityDataError, EventType, Rule, Unit, UnitKind, load_city
from dispatch.routing.rules import RoutingError, RuleTable, coverage_holes

NANNING = Path(__file__).resolve().parents[2] / "grid_data" / "nanning"
STREETS_PER_DISTRICT = {"450102": 4, "450103": 6, "450105": 5, "450107": 6, "450108": 4}
QINGXIU_CELL = "450103901901001"  # 青秀区 450103 + street 901 + community 901 + cell 001


@pytest.fixture(scope="module")
def nanning() -> CityData:
    return load_city(NANNING)


@pytest.fixture(scope="module")
def table(nanning: CityData) -> RuleTable:
    return RuleTable.from_city(nanning)


def generated_streets() -> list[str]:
    return [f"{d}{900 + i}" for d, n in STREETS_PER_DISTRICT.items() for i in range(1, n + 1)]


# --- the real Nanning data --------------------------------------------------------------


def test_road_spill_goes_to_city_management_with_traffic_police(table: RuleTable) -> None:
    got = table.resolve("06014", QINGXIU_CELL)
    assert got.lead == "450103-cgzf"
    assert "450103-jj" in got.support
    assert got.rule.event == "06014"


def test_muck_truck_types_are_joint_enforcement(table: RuleTable) -> None:
    for code in ("08011", "08012"):
        got = table.resolve(code, QINGXIU_CELL)
        assert got.lead == "450103-cgzf"
        assert {"450103-jj", "4501-ztb"} <= set(got.support)
    assert table.resolve("NN-X02", QINGXIU_CELL).lead == "450103-jj"


def test_stalls_bring_in_the_street_office(table: RuleTable) -> None:
    for code in ("09001", "09005", "09006", "06029"):
        got = table.resolve(code, QINGXIU_CELL)
        assert got.lead == "450103-cgzf", code
        assert "450103901-jdb" in got.support, code
    assert "450103-scjg" in table.resolve("06029", QINGXIU_CELL).support


def test_parking_is_led_by_traffic_police(table: RuleTable) -> None:
    for code in ("09009", "09010", "09012"):
        assert table.resolve(code, QINGXIU_CELL).lead == "450103-jj"
    assert "450103-cgzf" in table.resolve("09010", QINGXIU_CELL).support


def test_catch_all_sends_an_unruled_type_to_the_street_office(table: RuleTable) -> None:
    got = table.resolve("10001", "450107903901001")
    assert got.rule.event == "*"
    assert got.lead == "450107903-jdb"
    assert got.support == ()


def test_district_rule_beats_city_rule_for_the_same_type(table: RuleTable) -> None:
    liangqing = table.resolve("06014", "450108902901001")
    assert liangqing.rule.area_prefix == "450108"
    assert liangqing.lead == "450108-cgzf"
    assert "4501-ztb" in liangqing.support
    assert table.resolve("06014", QINGXIU_CELL).rule.area_prefix == "4501"


def test_every_type_resolves_in_every_generated_street(nanning: CityData, table: RuleTable) -> None:
    cells = [f"{street}901001" for street in generated_streets()]
    assert coverage_holes(table, nanning.event_types, cells) == []


def test_coverage_of_a_full_size_city_groups_cells(nanning: CityData, table: RuleTable) -> None:
    cells = [
        f"{street}{community:03d}{n:03d}"
        for street in generated_streets()
        for community in range(901, 911)
        for n in range(1, 141)
    ]
    assert len(cells) == 35_000
    assert len({table.area_key(c) for c in cells}) == 25
    assert coverage_holes(table, nanning.event_types, cells) == []


def test_cells_outside_the_served_units_are_reported(nanning: CityData, table: RuleTable) -> None:
    yongning = ["450109100001001", "450109100001002"]
    holes = coverage_holes(table, ["06014"], [*yongning, "450103901901001"])
    assert len(holes) == 1
    assert holes[0].cells_affected == 2
    assert holes[0].sample_cell == "450109100001001"
    assert "cgzf" in holes[0].reason


# --- specificity and unit lookup on a small hand-made city ------------------------------


def _type(code: str, cls: str) -> EventType:
    return EventType(
        code, "test", "", cls, "类", "Class", "事", "Type", 1, 4, 1, "work_hours", False, False, "x"
    )


def _city(rules: list[Rule], extra_units: tuple[Unit, ...] = ()) -> CityData:
    kinds = {
        k: UnitKind(k, k, k, scope)
        for k, scope in [("cg", "district"), ("hw", "district"), ("jd", "street"), ("zt", "city")]
    }
    units = [
        Unit("1101-zt", "zt", "1101", "市", "City"),
        Unit("110101-cg", "cg", "110101", "甲区城管", "A enforcement"),
        Unit("110102-cg", "cg", "110102", "乙区城管", "B enforcement"),
        Unit("110101-hw", "hw", "110101", "甲区环卫", "A sanitation"),
        Unit("110101001-jd", "jd", "110101001", "甲街道", "A street"),
        Unit("110101002-jd", "jd", "110101002", "甲二街道", "A street 2"),
        Unit("110102001-jd", "jd", "110102001", "乙街道", "B street"),
        *extra_units,
    ]
    types = {t.code: t for t in (_type("06001", "06"), _type("06002", "06"), _type("07001", "07"))}
    return CityData(types, kinds, {u.id: u for u in units}, rules=tuple(rules))


SPECIFICITY_RULES = [
    Rule("*", "11", "jd", (), "catch-all"),
    Rule("class:06", "11", "hw", (), "class, whole city"),
    Rule("class:06", "110102", "zt", (), "class, district B"),
    Rule("06001", "11", "cg", ("jd",), "type, whole city"),
    Rule("06001", "110101001", "unit:1101-zt", ("cg",), "type, one street"),
]


@pytest.mark.parametrize(
    ("event", "cell", "note", "lead"),
    [
        ("06001", "110102001001001", "type, whole city", "110102-cg"),  # type beats longer class
        ("06001", "110101001001001", "type, one street", "1101-zt"),  # longer prefix, same level
        ("06001", "110101002001001", "type, whole city", "110101-cg"),
        ("06002", "110102001001001", "class, district B", "1101-zt"),  # longer class prefix
        ("06002", "110101001001001", "class, whole city", "110101-hw"),
        ("07001", "110101001001001", "catch-all", "110101001-jd"),  # no type or class rule
    ],
)
def test_specificity_order(event: str, cell: str, note: str, lead: str) -> None:
    got = RuleTable.from_city(_city(SPECIFICITY_RULES)).resolve(event, cell)
    assert (got.rule.note, got.lead) == (note, lead)


def test_kind_resolves_to_the_longest_area_code() -> None:
    district_zt = Unit("110102-zt", "zt", "110102", "乙区渣土", "B muck")
    table = RuleTable.from_city(_city([Rule("*", "11", "zt")], (district_zt,)))
    assert table.resolve("07001", "110102001001001").lead == "110102-zt"
    assert table.resolve("07001", "110101001001001").lead == "1101-zt"


def test_support_has_no_lead_and_no_duplicates() -> None:
    rule = Rule("*", "11", "cg", ("unit:110101-cg", "jd", "zt", "unit:110101001-jd"))
    got = RuleTable.from_city(_city([rule])).resolve("07001", "110101001001001")
    assert got.lead == "110101-cg"
    assert got.support == ("110101001-jd", "1101-zt")


def test_missing_lead_unit_is_an_error_naming_event_cell_and_kind() -> None:
    table = RuleTable.from_city(_city([Rule("*", "11", "hw")]))
    with pytest.raises(RoutingError) as info:
        table.resolve("07001", "110102001001001")
    message = str(info.value)
    assert "'07001'" in message
    assert "'110102001001001'" in message
    assert "'hw'" in message
    assert isinstance(info.value, LookupError)


def test_missing_supporting_unit_is_an_error_too() -> None:
    table = RuleTable.from_city(_city([Rule("*", "11", "cg", ("hw",))]))
    assert table.resolve("07001", "110101001001001").support == ("110101-hw",)
    with pytest.raises(RoutingError, match="support unit of kind 'hw'"):
        table.resolve("07001", "110102001001001")


@pytest.mark.parametrize(
    ("rules", "event", "cell", "missing"),
    [
        ([Rule("*", "11", "cg")], "99999", "110101001001001", "unknown event type"),
        ([Rule("*", "1102", "cg")], "07001", "110101001001001", "no responsibility rule"),
        ([Rule("*", "11", "unit:ghost")], "07001", "110101001001001", "'ghost' does not exist"),
        ([Rule("*", "11", "cg")], "07001", "", "empty cell code"),
    ],
)
def test_routing_errors(rules: list[Rule], event: str, cell: str, missing: str) -> None:
    with pytest.raises(RoutingError, match=missing):
        RuleTable.from_city(_city(rules)).resolve(event, cell)


def test_two_rules_for_one_event_and_prefix_are_refused() -> None:
    rules = [Rule("class:06", "110101", "cg"), Rule("class:06", "110101", "hw")]
    with pytest.raises(CityDataError, match="two rules for class:06 @ 110101"):
        RuleTable.from_city(_city(rules))


def test_coverage_finds_a_planted_hole() -> None:
    # 环卫 exists only in district A, so 06001 has no lead anywhere in district B.
    city = _city([Rule("*", "11", "jd"), Rule("06001", "11", "hw")])
    cells_a = [f"110101001001{n:03d}" for n in range(1, 8)]
    cells_b = [f"110102001{c:03d}{n:03d}" for c in range(1, 4) for n in range(1, 6)]
    holes = coverage_holes(RuleTable.from_city(city), city.event_types, cells_a + cells_b)
    assert len(holes) == 1
    hole = holes[0]
    assert (hole.event_code, hole.cells_affected) == ("06001", len(cells_b))
    assert hole.sample_cell in cells_b
    assert "lead unit of kind 'hw'" in hole.reason


def test_coverage_with_no_cells_has_no_holes(table: RuleTable) -> None:
    assert coverage_holes(table, ["06014"], []) == []


@given(
    street=st.sampled_from([*generated_streets(), "450109100", "450103001"]),
    tails=st.lists(st.from_regex(r"[0-9]{6}", fullmatch=True), min_size=2, max_size=2),
    code=st.sampled_from(["06014", "09006", "10001", "NN-X01", "06001"]),
)
def test_cells_with_the_same_area_key_route_alike(
    table: RuleTable, street: str, tails: list[str], code: str
) -> None:
    """The grouping that coverage_holes relies on: same key, same answer."""
    first, second = (street + tail for tail in tails)
    assert table.area_key(first) == table.area_key(second)
    outcomes: list[object] = []
    for cell in (first, second):
        try:
            outcomes.append(table.resolve(code, cell))
        except RoutingError as exc:
            outcomes.append(exc.missing)
    assert outcomes[0] == outcomes[1]

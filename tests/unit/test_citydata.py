"""Loading grid_data/nanning, and refusing broken city data with file and line."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from datetime import date, time
from pathlib import Path

import pytest

from dispatch.citydata import CityData, CityDataError, load_city

NANNING = Path(__file__).resolve().parents[2] / "grid_data" / "nanning"
CORE_DISTRICTS = ("450102", "450103", "450105", "450107", "450108")
STREETS_PER_DISTRICT = {"450102": 4, "450103": 6, "450105": 5, "450107": 6, "450108": 4}
FOCUS_CODES = (
    *("06014", "08011", "08012", "06011", "08005"),  # 泥头车, 建筑垃圾
    *("06001", "08016"),  # 违法建设
    *("07001", "07002", "07003", "07004", "07006", "07007"),  # 广告
    *("06030", "06028", "08001"),  # 排污, 噪声
    *("09009", "09010", "09012"),  # 乱停车
    *("06010", "06042"),  # 垃圾
    *("09001", "09005", "09006", "06029"),  # 摊点
)


@pytest.fixture(scope="module")
def city() -> CityData:
    return load_city(NANNING)


def generated_streets() -> list[str]:
    return [f"{d}{900 + i}" for d, n in STREETS_PER_DISTRICT.items() for i in range(1, n + 1)]


def test_every_focus_type_exists_and_is_marked(city: CityData) -> None:
    for code in FOCUS_CODES:
        assert city.event_types[code].focus, code
        assert city.event_types[code].standard == "GB/T 47678.5-2026"
    for code in ("NN-X01", "NN-X02", "NN-X03"):
        assert city.event_types[code].standard == "local"
        assert city.event_types[code].focus
    assert "三车" in city.event_types["NN-X01"].name_zh
    assert city.event_types["NN-X02"].class_code == "08"
    assert 60 <= len(city.event_types) <= 90


def test_event_types_are_consistent(city: CityData) -> None:
    classes = {"06", "07", "08", "09", "10"}
    for t in city.event_types.values():
        assert t.class_code in classes
        assert t.limit_unit in {"work_hours", "work_days", "minutes"}
        assert min(t.accept_limit, t.resolve_limit, t.verify_limit) > 0
        assert t.icon.isascii()
        if t.urgent:
            assert t.limit_unit == "minutes", t.code
    spill = city.event_types["06014"]
    assert spill.urgent
    assert spill.limit_unit == "minutes"
    assert city.event_types["06010"].resolve_limit == 4
    assert city.event_types["06010"].verified
    assert city.event_types["09010"].old_code == "0410"


def test_units_cover_every_district_and_generated_street(city: CityData) -> None:
    district_kinds = {k.kind for k in city.unit_kinds.values() if k.scope == "district"}
    assert {"cgzf", "hw", "jj", "ga", "scjg", "sthj", "zj", "yl"} <= district_kinds
    for district in CORE_DISTRICTS:
        for kind in district_kinds:
            unit = city.units[f"{district}-{kind}"]
            assert (unit.kind, unit.area_code) == (kind, district)
    streets = generated_streets()
    assert len(streets) == 25
    for street in streets:
        office = city.units[f"{street}-jdb"]
        assert office.area_code == street
        assert "（生成）" in office.name_zh
        assert "(generated)" in office.name_en
        assert city.units[f"{street}-pcs"].kind == "pcs"
    assert city.units["450103901-jdb"].name_zh == "青秀示例街道01办事处（生成）"
    assert city.units["4501-ztb"].area_code == "4501"
    assert 8 <= len(city.unit_kinds) <= 14


def test_teams_belong_to_units(city: CityData) -> None:
    per_unit: dict[str, int] = {}
    for team in city.teams.values():
        per_unit[team.unit_id] = per_unit.get(team.unit_id, 0) + 1
    assert set(per_unit) == set(city.units)
    assert all(1 <= n <= 3 for n in per_unit.values())
    assert city.teams["450103-cgzf-1"].name_zh == "一中队"


def test_calendar_and_holidays(city: CityData) -> None:
    assert city.calendar.timezone == "Asia/Shanghai"
    assert city.calendar.work_periods == ((time(8), time(12)), (time(14, 30), time(17, 30)))
    assert city.holidays[date(2026, 10, 1)].kind == "holiday"
    assert city.holidays[date(2026, 2, 17)].name_zh == "春节"
    assert city.holidays[date(2026, 9, 20)].kind == "workday"
    assert all(d.year == 2026 for d in city.holidays)


def test_catch_all_rule_exists(city: CityData) -> None:
    assert any(r.event == "*" and r.area_prefix == "4501" and r.lead == "jdb" for r in city.rules)


# --- broken data -------------------------------------------------------------------------


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A writable copy of the real city, to break one thing at a time."""
    root = tmp_path / "city"
    shutil.copytree(NANNING, root)
    return root


def _append(root: Path, file: str, row: dict[str, str] | list[str]) -> int:
    """Append a row (dict by column, or a raw list) and return its line number."""
    path = root / file
    lines = path.read_text(encoding="utf-8").splitlines()
    header = next(csv.reader([lines[0]]))
    values = [row.get(c, "") for c in header] if isinstance(row, dict) else row
    with path.open("a", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerow(values)
    return len(lines) + 1


def _first_row(root: Path, file: str) -> dict[str, str]:
    with (root / file).open(encoding="utf-8", newline="") as f:
        return dict(next(csv.DictReader(f)))


def _event(root: Path, **changes: str) -> int:
    row = _first_row(root, "event_types.csv") | {"code": "06999"} | changes
    return _append(root, "event_types.csv", row)


def _rule(root: Path, event: str, prefix: str, lead: str, support: str = "") -> int:
    row = {"event": event, "area_prefix": prefix, "lead": lead, "support": support}
    return _append(root, "responsibility.csv", row)


Breaker = Callable[[Path], int]

BREAKERS: dict[str, tuple[str, str, Breaker]] = {
    "duplicate event code": (
        "event_types.csv",
        "duplicate code",
        lambda r: _event(r, code="06014"),
    ),
    "bad limit unit": ("event_types.csv", "limit_unit", lambda r: _event(r, limit_unit="hours")),
    "zero limit": ("event_types.csv", "resolve_limit", lambda r: _event(r, resolve_limit="0")),
    "negative limit": ("event_types.csv", "accept_limit", lambda r: _event(r, accept_limit="-1")),
    "text limit": ("event_types.csv", "verify_limit", lambda r: _event(r, verify_limit="soon")),
    "urgent in work hours": (
        "event_types.csv",
        "urgent",
        lambda r: _event(r, urgent="1", limit_unit="work_hours"),
    ),
    "code outside its class": ("event_types.csv", "5 digits", lambda r: _event(r, code="07999")),
    "bad flag": ("event_types.csv", "focus", lambda r: _event(r, focus="yes")),
    "duplicate unit id": (
        "units.csv",
        "duplicate unit id",
        lambda r: _append(r, "units.csv", ["450103-cgzf", "cgzf", "450103", "甲", "A"]),
    ),
    "unit of unknown kind": (
        "units.csv",
        "unknown unit kind 'wz'",
        lambda r: _append(r, "units.csv", ["450103-wz", "wz", "450103", "甲", "A"]),
    ),
    "second unit of one kind for one area": (
        "units.csv",
        "duplicate unit for kind @ area 'cgzf @ 450103'",
        lambda r: _append(r, "units.csv", ["450103-cgzf-b", "cgzf", "450103", "甲", "A"]),
    ),
    "unit area code wrong length": (
        "units.csv",
        "district unit needs 6 digits",
        lambda r: _append(r, "units.csv", ["45010-x", "cgzf", "45010", "甲", "A"]),
    ),
    "row with too few fields": (
        "units.csv",
        "fields",
        lambda r: _append(r, "units.csv", ["450103-x", "cgzf"]),
    ),
    "team of unknown unit": (
        "teams.csv",
        "unknown unit 'nobody'",
        lambda r: _append(r, "teams.csv", ["nobody-1", "nobody", "一队", "Team 1"]),
    ),
    "duplicate team id": (
        "teams.csv",
        "duplicate team id",
        lambda r: _append(r, "teams.csv", ["450103-cgzf-1", "450103-cgzf", "一队", "Team 1"]),
    ),
    "scope unknown": (
        "unit_kinds.csv",
        "scope",
        lambda r: _append(r, "unit_kinds.csv", ["wz", "物业", "Property", "estate"]),
    ),
    "rule for unknown event type": (
        "responsibility.csv",
        "unknown event type or class '09999'",
        lambda r: _rule(r, "09999", "4501", "cgzf"),
    ),
    "rule for unknown class": (
        "responsibility.csv",
        "unknown event type or class 'class:42'",
        lambda r: _rule(r, "class:42", "4501", "cgzf"),
    ),
    "rule with unknown lead kind": (
        "responsibility.csv",
        "lead 'wz'",
        lambda r: _rule(r, "06014", "450103", "wz"),
    ),
    "rule with unknown lead unit": (
        "responsibility.csv",
        "lead 'unit:nobody'",
        lambda r: _rule(r, "06014", "450103", "unit:nobody"),
    ),
    "rule with unknown support kind": (
        "responsibility.csv",
        "support 'zz'",
        lambda r: _rule(r, "06014", "450105", "cgzf", "jj;zz"),
    ),
    "rule repeating the lead as support": (
        "responsibility.csv",
        "repeats",
        lambda r: _rule(r, "06014", "450105", "cgzf", "jj;cgzf"),
    ),
    "two rules for one event and prefix": (
        "responsibility.csv",
        "duplicate rule for event @ area_prefix '06014 @ 4501'",
        lambda r: _rule(r, "06014", "4501", "jj"),
    ),
    "bad area prefix": (
        "responsibility.csv",
        "area_prefix",
        lambda r: _rule(r, "06014", "45-01", "jj"),
    ),
    "bad holiday date": (
        "holidays.csv",
        "YYYY-MM-DD",
        lambda r: _append(r, "holidays.csv", ["2026-02-30", "holiday", "假", "Day off"]),
    ),
    "duplicate holiday": (
        "holidays.csv",
        "duplicate date",
        lambda r: _append(r, "holidays.csv", ["2026-10-01", "holiday", "国庆节", "National Day"]),
    ),
}


@pytest.mark.parametrize("name", sorted(BREAKERS))
def test_broken_row_names_file_and_line(broken: Path, name: str) -> None:
    file, problem, breaker = BREAKERS[name]
    line = breaker(broken)
    with pytest.raises(CityDataError) as info:
        load_city(broken)
    assert (info.value.file, info.value.line) == (file, line)
    assert problem in info.value.problem
    assert f"{file}, line {line}: " in str(info.value)


@pytest.mark.parametrize(
    ("file", "old", "new", "problem"),
    [
        ("units.csv", "name_zh,name_en", "name_zh,name_en,phone", "unknown ['phone']"),
        ("units.csv", "name_zh,name_en", "name_zh", "missing ['name_en']"),
        ("event_types.csv", ",icon,", ",icon_key,", "missing ['icon']"),
    ],
)
def test_bad_header_is_refused(broken: Path, file: str, old: str, new: str, problem: str) -> None:
    path = broken / file
    head, rest = path.read_text(encoding="utf-8").split("\n", 1)
    path.write_text(head.replace(old, new) + "\n" + rest, encoding="utf-8")
    with pytest.raises(CityDataError, match=r"line 1: bad header") as info:
        load_city(broken)
    assert info.value.file == file
    assert problem in info.value.problem


def test_missing_file_is_named(broken: Path) -> None:
    (broken / "teams.csv").unlink()
    with pytest.raises(CityDataError, match=r"^teams\.csv: file is missing"):
        load_city(broken)


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ('timezone = "Asia/Nanning"\nwork_periods = [["08:00", "12:00"]]\n', "time zone"),
        (
            'timezone = "Asia/Shanghai"\nwork_periods = [["08:00", "12:00"], ["11:00", "17:30"]]\n',
            "overlaps",
        ),
        ('timezone = "Asia/Shanghai"\nwork_periods = [["8am", "12:00"]]\n', "pair"),
        (
            'timezone = "Asia/Shanghai"\nwork_periods = [["08:00", "12:00"]]\nlunch = 1\n',
            "unknown key",
        ),
        ('timezone = "Asia/Shanghai"\nwork_periods = [\n', "not valid TOML"),
    ],
)
def test_bad_calendar_is_refused(broken: Path, toml: str, problem: str) -> None:
    (broken / "calendar.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(CityDataError, match=r"^calendar\.toml") as info:
        load_city(broken)
    assert problem in info.value.problem


def test_calendar_error_points_at_the_key_line(broken: Path) -> None:
    toml = '# hours\ntimezone = "Asia/Shanghai"\nwork_periods = [["12:00", "08:00"]]\n'
    (broken / "calendar.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(CityDataError) as info:
        load_city(broken)
    assert info.value.line == 3


def test_excel_bom_and_blank_lines_are_accepted(broken: Path) -> None:
    path = broken / "unit_kinds.csv"
    path.write_text("\ufeff" + path.read_text(encoding="utf-8") + "\n\n", encoding="utf-8")
    assert load_city(broken).unit_kinds == load_city(NANNING).unit_kinds

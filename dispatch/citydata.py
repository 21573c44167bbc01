"""A city's configuration: event types, units, teams, responsibility rules and working calendar.

Everything a city may change without code lives in ``grid_data/<city>/`` as CSV and TOML.
:func:`load_city` checks it all strictly, so a typo fails at load with the file and line
instead of sending a case to nobody at run time.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, time
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LIMIT_UNITS = frozenset({"work_hours", "work_days", "minutes"})
#: Length of an area code for each unit scope (GB/T 2260 city/district + GB/T 10114 street).
SCOPE_CODE_LENGTH: Mapping[str, int] = MappingProxyType({"city": 4, "district": 6, "street": 9})
HOLIDAY_KINDS = frozenset({"holiday", "workday"})
LOCAL_STANDARD = "local"
ANY_EVENT = "*"
CLASS_PREFIX = "class:"
UNIT_PREFIX = "unit:"

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_KIND = re.compile(r"[a-z][a-z0-9_]*")
_ICON = re.compile(r"[a-z][a-z0-9_-]*")
_DIGITS = re.compile(r"[0-9]+")
_CLASS = re.compile(r"[0-9]{2}")
_FLAG = re.compile(r"[01]")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_LIMIT_UNIT = re.compile("|".join(LIMIT_UNITS))
_SCOPE = re.compile("|".join(SCOPE_CODE_LENGTH))
_HOLIDAY_KIND = re.compile("|".join(HOLIDAY_KINDS))
_WORK_PERIODS = ((time(8), time(12)), (time(14, 30), time(17, 30)))


class CityDataError(ValueError):
    """City data that cannot be used; the message names the file, the line and the problem."""

    def __init__(self, file: str, line: int | None, problem: str) -> None:
        where = file if line is None else f"{file}, line {line}"
        super().__init__(f"{where}: {problem}")
        self.file, self.line, self.problem = file, line, problem


@dataclass(frozen=True, slots=True)
class EventType:
    """One kind of case (管理事项), with its step time limits in ``limit_unit``."""

    code: str
    standard: str
    old_code: str
    class_code: str
    class_zh: str
    class_en: str
    name_zh: str
    name_en: str
    accept_limit: float
    resolve_limit: float
    verify_limit: float
    limit_unit: str
    urgent: bool
    focus: bool
    icon: str
    source: str = ""
    verified: bool = False


@dataclass(frozen=True, slots=True)
class UnitKind:
    """A kind of enforcement unit; ``scope`` says which level of area one unit covers."""

    kind: str
    name_zh: str
    name_en: str
    scope: str


@dataclass(frozen=True, slots=True)
class Unit:
    """One responsible unit (责任单位), covering every cell whose code starts with area_code."""

    id: str
    kind: str
    area_code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Team:
    """A team (中队/班组) of a unit; tickets go to units, teams pick them up."""

    id: str
    unit_id: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Rule:
    """For ``event`` (a type code, ``class:NN`` or ``*``) in cells under ``area_prefix``: who
    leads and who assists, each a unit kind or ``unit:<id>``."""

    event: str
    area_prefix: str
    lead: str
    support: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class Holiday:
    """A public holiday, or a weekend day that is a working day (调休上班)."""

    date: date
    kind: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Calendar:
    """Working time: work-hour/day deadlines count only in these periods on working days."""

    timezone: str = "Asia/Shanghai"
    work_periods: tuple[tuple[time, time], ...] = _WORK_PERIODS
    work_weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})


@dataclass(frozen=True)
class CityData:
    """Everything loaded from one city folder, keyed by id or code."""

    event_types: Mapping[str, EventType]
    unit_kinds: Mapping[str, UnitKind]
    units: Mapping[str, Unit]
    teams: Mapping[str, Team] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    holidays: Mapping[date, Holiday] = field(default_factory=dict)
    calendar: Calendar = field(default_factory=Calendar)


def load_city(path: Path) -> CityData:
    """Read and check one city folder (``grid_data/<city>``); raise CityDataError on any flaw."""
    kinds = MappingProxyType(_load_unit_kinds(path))
    units = MappingProxyType(_load_units(path, kinds))
    city = CityData(MappingProxyType(_load_event_types(path)), kinds, units)
    return replace(
        city,
        teams=MappingProxyType(_load_teams(path, units)),
        rules=_load_rules(path, city),
        holidays=MappingProxyType(_load_holidays(path)),
        calendar=_load_calendar(path),
    )


_EVENT_COLUMNS = (
    "code,standard,old_code,class_code,class_zh,class_en,name_zh,name_en,accept_limit,"
    "resolve_limit,verify_limit,limit_unit,urgent,focus,icon,source,verified"
)


class _Rows:
    """Rows of one CSV file; iterating sets ``line`` so each check names file and line."""

    def __init__(self, root: Path, file: str, columns: str) -> None:
        self.file = file
        self.line = 1
        self.columns = tuple(columns.split(","))
        self.path = root / file
        self.seen: dict[str, int] = {}

    def __iter__(self) -> Iterator[dict[str, str]]:
        if not self.path.is_file():
            raise CityDataError(self.file, None, "file is missing")
        try:
            with self.path.open(encoding="utf-8-sig", newline="") as f:
                reader = csv.reader(f, strict=True)
                header = [h.strip() for h in next(reader, [])]
                unknown = [h for h in header if h not in self.columns]
                missing = [c for c in self.columns if c not in header]
                if unknown or missing or len(set(header)) != len(header):
                    raise self.fail(f"bad header: unknown {unknown}, missing {missing}")
                while True:
                    self.line = reader.line_num + 1
                    record = next(reader, None)
                    if record is None:
                        return
                    if not any(cell.strip() for cell in record):
                        continue
                    if len(record) != len(header):
                        raise self.fail(f"{len(record)} fields, the header has {len(header)}")
                    yield {h: v.strip() for h, v in zip(header, record, strict=True)}
        except (UnicodeDecodeError, csv.Error) as exc:
            raise self.fail(f"unreadable CSV (UTF-8 expected): {exc}") from exc

    def fail(self, problem: str) -> CityDataError:
        return CityDataError(self.file, self.line, problem)

    def match(self, row: dict[str, str], col: str, pattern: re.Pattern[str], what: str) -> str:
        if not pattern.fullmatch(row[col]):
            raise self.fail(f"{col} {row[col]!r} is not {what}")
        return row[col]

    def text(self, row: dict[str, str], col: str) -> str:
        if not row[col]:
            raise self.fail(f"{col} is empty")
        return row[col]

    def flag(self, row: dict[str, str], col: str) -> bool:
        return self.match(row, col, _FLAG, "0 or 1") == "1"

    def positive(self, row: dict[str, str], col: str) -> float:
        value = float(row[col]) if _NUMBER.fullmatch(row[col]) else 0.0
        if value <= 0:
            raise self.fail(f"{col} must be a positive number, not {row[col]!r}")
        return value

    def unique(self, key: str, what: str) -> None:
        if (first := self.seen.setdefault(f"{what}={key}", self.line)) != self.line:
            raise self.fail(f"duplicate {what} {key!r} (first on line {first})")

    def names(self, row: dict[str, str]) -> tuple[str, str]:
        return self.text(row, "name_zh"), self.text(row, "name_en")


def _load_event_types(root: Path) -> dict[str, EventType]:
    rows = _Rows(root, "event_types.csv", _EVENT_COLUMNS)
    out: dict[str, EventType] = {}
    class_names: dict[str, tuple[str, str]] = {}
    for row in rows:
        code = rows.match(row, "code", _ID, "a type code")
        rows.unique(code, "code")
        standard = rows.text(row, "standard")
        if row["old_code"]:
            rows.match(row, "old_code", _DIGITS, "a digit code")
        cls = rows.match(row, "class_code", _CLASS, "a 2-digit class code")
        if standard != LOCAL_STANDARD and not (len(code) == 5 and code.startswith(cls)):
            raise rows.fail(f"a standard type code must be 5 digits starting with {cls}: {code!r}")
        name_zh, name_en = rows.names(row)
        names = (rows.text(row, "class_zh"), rows.text(row, "class_en"))
        if class_names.setdefault(cls, names) != names:
            raise rows.fail(f"class {cls} is named {names}, elsewhere {class_names[cls]}")
        unit = rows.match(row, "limit_unit", _LIMIT_UNIT, f"one of {sorted(LIMIT_UNITS)}")
        urgent = rows.flag(row, "urgent")
        if urgent and unit != "minutes":
            raise rows.fail("an urgent type must count its limits in minutes (clock time)")
        out[code] = EventType(
            code=code,
            standard=standard,
            old_code=row["old_code"],
            class_code=cls,
            class_zh=names[0],
            class_en=names[1],
            name_zh=name_zh,
            name_en=name_en,
            accept_limit=rows.positive(row, "accept_limit"),
            resolve_limit=rows.positive(row, "resolve_limit"),
            verify_limit=rows.positive(row, "verify_limit"),
            limit_unit=unit,
            urgent=urgent,
            focus=rows.flag(row, "focus"),
            icon=rows.match(row, "icon", _ICON, "an ASCII icon key"),
            source=rows.text(row, "source"),
            verified=rows.flag(row, "verified"),
        )
    return out


def _load_unit_kinds(root: Path) -> dict[str, UnitKind]:
    rows = _Rows(root, "unit_kinds.csv", "kind,name_zh,name_en,scope")
    out: dict[str, UnitKind] = {}
    for row in rows:
        kind = rows.match(row, "kind", _KIND, "a lower-case kind key")
        rows.unique(kind, "kind")
        scope = rows.match(row, "scope", _SCOPE, f"one of {list(SCOPE_CODE_LENGTH)}")
        out[kind] = UnitKind(kind, *rows.names(row), scope)
    return out


def _load_units(root: Path, kinds: Mapping[str, UnitKind]) -> dict[str, Unit]:
    rows = _Rows(root, "units.csv", "id,kind,area_code,name_zh,name_en")
    out: dict[str, Unit] = {}
    for row in rows:
        uid = rows.match(row, "id", _ID, "a unit id")
        rows.unique(uid, "unit id")
        kind = row["kind"]
        if kind not in kinds:
            raise rows.fail(f"unknown unit kind {kind!r}")
        area = rows.match(row, "area_code", _DIGITS, "a digit area code")
        want = SCOPE_CODE_LENGTH[kinds[kind].scope]
        if len(area) != want:
            raise rows.fail(f"area_code {area!r}: a {kinds[kind].scope} unit needs {want} digits")
        rows.unique(f"{kind} @ {area}", "unit for kind @ area")
        out[uid] = Unit(uid, kind, area, *rows.names(row))
    return out


def _load_teams(root: Path, units: Mapping[str, Unit]) -> dict[str, Team]:
    rows = _Rows(root, "teams.csv", "id,unit_id,name_zh,name_en")
    out: dict[str, Team] = {}
    for row in rows:
        tid = rows.match(row, "id", _ID, "a team id")
        rows.unique(tid, "team id")
        if row["unit_id"] not in units:
            raise rows.fail(f"unknown unit {row['unit_id']!r}")
        out[tid] = Team(tid, row["unit_id"], *rows.names(row))
    return out


def _load_rules(root: Path, city: CityData) -> tuple[Rule, ...]:
    rows = _Rows(root, "responsibility.csv", "event,area_prefix,lead,support,note")
    events = {ANY_EVENT, *city.event_types}
    events |= {CLASS_PREFIX + t.class_code for t in city.event_types.values()}
    targets = {*city.unit_kinds, *(UNIT_PREFIX + u for u in city.units)}

    def target(value: str, col: str) -> str:
        if value not in targets:
            raise rows.fail(f"{col} {value!r} is neither a unit kind nor unit:<known unit id>")
        return value

    out: list[Rule] = []
    for row in rows:
        event = row["event"]
        if event not in events:
            raise rows.fail(f"unknown event type or class {event!r}")
        prefix = rows.match(row, "area_prefix", _DIGITS, "a digit area prefix")
        rows.unique(f"{event} @ {prefix}", "rule for event @ area_prefix")
        lead = target(row["lead"], "lead")
        support = tuple(target(s, "support") for s in re.split(r"\s*;\s*", row["support"]) if s)
        if len(set(support)) != len(support) or lead in support:
            raise rows.fail(f"support {row['support']!r} repeats a unit or the lead")
        out.append(Rule(event, prefix, lead, support, row["note"]))
    return tuple(out)


def _load_holidays(root: Path) -> dict[date, Holiday]:
    rows = _Rows(root, "holidays.csv", "date,kind,name_zh,name_en")
    out: dict[date, Holiday] = {}
    for row in rows:
        try:
            day = date.fromisoformat(row["date"])
        except ValueError:
            raise rows.fail(f"date {row['date']!r} is not YYYY-MM-DD") from None
        rows.unique(day.isoformat(), "date")
        kind = rows.match(row, "kind", _HOLIDAY_KIND, f"one of {sorted(HOLIDAY_KINDS)}")
        out[day] = Holiday(day, kind, *rows.names(row))
    return out


def _load_calendar(root: Path) -> Calendar:
    file = "calendar.toml"
    if not (root / file).is_file():
        raise CityDataError(file, None, "file is missing")
    text = (root / file).read_text(encoding="utf-8")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CityDataError(file, None, f"not valid TOML: {exc}") from exc

    def fail(key: str, problem: str) -> CityDataError:
        line = next((n for n, s in enumerate(text.splitlines(), 1) if s.startswith(key)), None)
        return CityDataError(file, line, f"{key}: {problem}")

    for key in sorted(set(doc) - {"timezone", "work_periods"}):
        raise fail(key, "unknown key")
    tz: Any = doc.get("timezone")
    try:
        ZoneInfo(tz)  # anything but a valid name fails here
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise fail("timezone", f"missing or unknown time zone {tz!r}") from None
    periods = _periods(doc.get("work_periods"), lambda p: fail("work_periods", p))
    return Calendar(str(tz), periods)


def _periods(value: Any, fail: Callable[[str], CityDataError]) -> tuple[tuple[time, time], ...]:
    """Parse [["08:00","12:00"], ...]: each start before its end, in order, not overlapping."""
    if not isinstance(value, list) or not value:
        raise fail('must be a non-empty list of ["HH:MM", "HH:MM"] pairs')
    out: list[tuple[time, time]] = []
    for pair in value:
        ok = isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ends = [_HHMM.fullmatch(p) for p in pair] if ok else [None]
        if not all(ends):
            raise fail(f'{pair!r} is not a ["HH:MM", "HH:MM"] pair')
        start, end = (time(int(m[1]), int(m[2])) for m in ends if m)
        if start >= end or (out and start < out[-1][1]):
            raise fail(f"{pair!r} is empty, out of order or overlaps the previous period")
        out.append((start, end))
    return tuple(out)

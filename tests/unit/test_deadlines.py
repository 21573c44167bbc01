"""Due times and traffic lights on Nanning's working calendar (grid_data/nanning)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.citydata import load_city
from dispatch.tickets.deadlines import (
    WorkingCalendar,
    deadlines_for,
    due,
    elapsed_seconds,
    traffic_light,
    verify_due,
    working_seconds_between,
)

NANNING = Path(__file__).resolve().parents[2] / "grid_data" / "nanning"
CITY = load_city(NANNING)
CAL = WorkingCalendar.from_city(CITY)
SH = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Nanning wall-clock time."""
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def test_calendar_comes_from_the_city_files() -> None:
    assert CAL.tz == SH
    assert CAL.day_us == 7 * 3600 * 1_000_000  # 08:00–12:00 + 14:30–17:30
    assert CAL.weekend == {5, 6}
    assert date(2026, 10, 1) in CAL.holidays
    assert date(2026, 10, 10) in CAL.workdays
    assert not CAL.is_working_day(date(2026, 10, 1))  # 国庆节, a Thursday
    assert CAL.is_working_day(date(2026, 10, 10))  # 国庆节调休上班, a Saturday
    assert not CAL.is_working_day(date(2026, 3, 14))  # an ordinary Saturday
    assert CAL.is_working_day(date(2026, 3, 13))  # an ordinary Friday


def test_friday_afternoon_plus_four_work_hours_is_monday_morning() -> None:
    # Fri 2026-03-13 16:00 → 17:30 uses 1.5 h; Sat 14 and Sun 15 are skipped;
    # Mon 16 08:00 + the remaining 2.5 h = 10:30.
    got = due(sh(2026, 3, 13, 16, 0), 4, "work_hours", CAL)
    assert got == sh(2026, 3, 16, 10, 30)
    assert got.tzinfo is UTC


def test_counting_starts_at_the_next_period_outside_working_time() -> None:
    # 12:30 is lunch: counting starts at 14:30
    assert due(sh(2026, 3, 16, 12, 30), 1, "work_hours", CAL) == sh(2026, 3, 16, 15, 30)
    assert due(sh(2026, 3, 16, 12, 30), 0.5, "work_hours", CAL) == sh(2026, 3, 16, 15, 0)
    # before work and after work
    assert due(sh(2026, 3, 16, 6, 0), 1, "work_hours", CAL) == sh(2026, 3, 16, 9, 0)
    assert due(sh(2026, 3, 16, 18, 0), 1, "work_hours", CAL) == sh(2026, 3, 17, 9, 0)
    # a limit used up exactly at a period end is due then, not the next morning
    assert due(sh(2026, 3, 13, 16, 0), 1.5, "work_hours", CAL) == sh(2026, 3, 13, 17, 30)
    # the morning runs into the afternoon period across lunch: 11:00 + 2 h = 15:30
    assert due(sh(2026, 3, 16, 11, 0), 2, "work_hours", CAL) == sh(2026, 3, 16, 15, 30)


def test_national_holiday_is_skipped() -> None:
    # holidays.csv: 2026-10-01 … 2026-10-07 国庆节 (holiday).
    # Wed 30 Sep 17:00 → 17:30 uses 0.5 h; 1–7 Oct are off; Thu 8 Oct 08:00 + 0.5 h.
    assert CITY.holidays[date(2026, 10, 1)].kind == "holiday"
    assert due(sh(2026, 9, 30, 17, 0), 1, "work_hours", CAL) == sh(2026, 10, 8, 8, 30)


def test_adjusted_working_saturday_is_counted() -> None:
    # holidays.csv: 2026-10-10 国庆节调休上班 (workday), a Saturday.
    # Fri 9 Oct 17:00 → 17:30 uses 0.5 h; Sat 10 Oct 08:00 + 0.5 h = 08:30.
    assert CITY.holidays[date(2026, 10, 10)].kind == "workday"
    assert due(sh(2026, 10, 9, 17, 0), 1, "work_hours", CAL) == sh(2026, 10, 10, 8, 30)
    # Spring Festival: Fri 13 Feb 17:00 → 0.5 h; Sat 14 Feb (调休上班) 7 h → 7.5 h;
    # 15–23 Feb 春节 off; Tue 24 Feb 08:00 + 0.5 h = 08:30.
    assert due(sh(2026, 2, 13, 17, 0), 8, "work_hours", CAL) == sh(2026, 2, 24, 8, 30)


def test_minutes_ignore_the_calendar() -> None:
    # a Saturday night and a national holiday count like any other time
    assert due(sh(2026, 3, 14, 23, 50), 30, "minutes", CAL) == sh(2026, 3, 15, 0, 20)
    assert due(sh(2026, 10, 1, 12, 30), 10, "minutes", CAL) == sh(2026, 10, 1, 12, 40)
    assert elapsed_seconds(sh(2026, 10, 1, 0, 0), sh(2026, 10, 2, 0, 0), "minutes", CAL) == 86400


def test_work_days_across_a_weekend() -> None:
    # Thu 12 Mar 10:00 + 1 day = Fri 10:00; + 1 more = Mon 16 Mar 10:00
    assert due(sh(2026, 3, 12, 10, 0), 2, "work_days", CAL) == sh(2026, 3, 16, 10, 0)
    # half a day = 3.5 working hours: Fri 16:00 → 17:30 (1.5 h), Mon 08:00 + 2 h
    assert due(sh(2026, 3, 13, 16, 0), 0.5, "work_days", CAL) == sh(2026, 3, 16, 10, 0)
    # one whole day from the start of a day ends at the end of that day
    assert due(sh(2026, 3, 13, 8, 0), 1, "work_days", CAL) == sh(2026, 3, 13, 17, 30)


def test_twenty_work_days_over_national_day() -> None:
    # 140 h from Wed 30 Sep 16:00: 1.5 h that day; 1–7 Oct off; working days 8, 9,
    # 10 (调休 Sat), 12–16, 19–23, 26–30 Oct = 18 days (126 h → 127.5 h); Mon 2 Nov
    # 7 h → 134.5 h; Tue 3 Nov 08:00 + 5.5 h = 12:00 + 1.5 h after 14:30 = 16:00.
    start = sh(2026, 9, 30, 16, 0)
    end = due(start, 20, "work_days", CAL)
    assert end == sh(2026, 11, 3, 16, 0)
    assert working_seconds_between(start, end, CAL) == 140 * 3600


def test_inputs_in_other_timezones_are_converted() -> None:
    expected = sh(2026, 3, 16, 10, 30)  # as in the Friday test
    for start in (
        datetime(2026, 3, 13, 8, 0, tzinfo=UTC),  # = Fri 16:00 in Nanning
        datetime(2026, 3, 13, 4, 0, tzinfo=NEW_YORK),  # EDT (UTC-4) since 8 Mar 2026
        datetime(2026, 3, 13, 13, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    ):
        got = due(start, 4, "work_hours", CAL)
        assert got == expected
        assert got.utcoffset() == timedelta(0)
    # 17:00 UTC on a Monday is 01:00 Tuesday in Nanning: counting starts Tue 08:00
    assert due(datetime(2026, 3, 16, 17, 0, tzinfo=UTC), 1, "work_hours", CAL) == sh(
        2026, 3, 17, 9, 0
    )


def test_clock_minutes_are_real_minutes_across_a_dst_change_of_the_input_zone() -> None:
    # New York springs forward 2026-03-08 02:00 EST → 03:00 EDT: 01:30 EST + 60 min is
    # 03:30 EDT (07:30 UTC), not the wall-clock 02:30 that does not exist.
    start = datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)
    assert due(start, 60, "minutes", CAL) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    later = datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK)
    assert elapsed_seconds(start, later, "minutes", CAL) == 3600


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        due(datetime(2026, 3, 13, 16, 0), 1, "work_hours", CAL)
    with pytest.raises(ValueError, match="unit"):
        due(sh(2026, 3, 13, 16, 0), 1, "fortnights", CAL)
    with pytest.raises(ValueError, match="negative"):
        due(sh(2026, 3, 13, 16, 0), -1, "work_hours", CAL)
    with pytest.raises(ValueError, match="periods"):
        WorkingCalendar([], set(), set(), SH)


def test_traffic_light_thresholds_in_working_time() -> None:
    # Mon 16 Mar 08:00 + 10 working hours: Mon 7 h, Tue 08:00 + 3 h = Tue 11:00.
    start, end = sh(2026, 3, 16, 8, 0), sh(2026, 3, 17, 11, 0)
    assert due(start, 10, "work_hours", CAL) == end

    def light(*tue: int) -> str:
        return traffic_light(start, end, sh(2026, 3, 17, *tue), "work_hours", CAL)

    assert light(8, 54) == "green"  # 79 %: 7 h + 0.9 h
    assert light(9, 0) == "yellow"  # 80 %: 7 h + 1 h
    assert light(11, 0) == "yellow"  # 100 %: the due time itself
    assert light(11, 6) == "red"  # 101 %
    assert traffic_light(start, end, start, "work_hours", CAL) == "green"


def test_traffic_light_thresholds_in_minutes() -> None:
    start = sh(2026, 10, 1, 12, 0)  # a holiday at lunch: minutes do not care
    end = due(start, 100, "minutes", CAL)

    def light(minutes: int) -> str:
        return traffic_light(start, end, start + timedelta(minutes=minutes), "minutes", CAL)

    assert [light(m) for m in (79, 80, 100, 101)] == ["green", "yellow", "yellow", "red"]


def test_traffic_light_measures_working_time_not_clock_time() -> None:
    start, end = sh(2026, 3, 13, 16, 0), sh(2026, 3, 16, 10, 30)  # Fri + 4 work_hours
    # Sunday 23:00: 55 of 66.5 clock hours (83 %) but 1.5 of 4 working hours (37.5 %)
    assert traffic_light(start, end, sh(2026, 3, 15, 23, 0), "work_hours", CAL) == "green"
    # due Fri 17:30: on Saturday no working time has passed since, but it is late
    friday_end = sh(2026, 3, 13, 17, 30)
    assert traffic_light(start, friday_end, sh(2026, 3, 14, 9), "work_hours", CAL) == "red"


@dataclass(frozen=True)
class FakeType:
    accept_limit: float
    resolve_limit: float
    verify_limit: float
    limit_unit: str


def test_deadlines_for_counts_accept_and_resolve_from_dispatch() -> None:
    garbage = FakeType(accept_limit=1, resolve_limit=4, verify_limit=2, limit_unit="work_hours")
    dispatched = sh(2026, 3, 13, 16, 0)
    accept_due, resolve_due = deadlines_for(garbage, dispatched, CAL)
    assert accept_due == sh(2026, 3, 13, 17, 0)
    assert resolve_due == sh(2026, 3, 16, 10, 30)
    # verification counts from the resolution: Mon 16:30 + 2 h = 17:30 + Tue 1 h
    assert verify_due(garbage, sh(2026, 3, 16, 16, 30), CAL) == sh(2026, 3, 17, 9, 0)
    urgent = FakeType(10, 60, 30, "minutes")
    assert deadlines_for(urgent, dispatched, CAL) == (
        sh(2026, 3, 13, 16, 10),
        sh(2026, 3, 13, 17, 0),
    )


def test_every_city_event_type_gets_deadlines() -> None:
    start = sh(2026, 3, 13, 16, 0)
    for code, et in CITY.event_types.items():
        limits = deadlines_for(et, start, CAL)
        assert start < limits.accept_due, code
        assert start < limits.resolve_due, code


ZONES = st.sampled_from([UTC, SH, NEW_YORK, timezone(timedelta(hours=5, minutes=30))])
STARTS = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2026, 12, 31), timezones=ZONES
)
HOURS = st.floats(min_value=0, max_value=200, allow_nan=False, allow_infinity=False)
UNITS = st.sampled_from(["work_hours", "work_days", "minutes"])


@settings(max_examples=300, deadline=None)
@given(start=STARTS, a=HOURS, b=HOURS, unit=UNITS)
def test_due_is_monotonic_in_amount(start: datetime, a: float, b: float, unit: str) -> None:
    lo, hi = sorted((a, b))
    assert start <= due(start, lo, unit, CAL) <= due(start, hi, unit, CAL)


@settings(max_examples=300, deadline=None)
@given(start=STARTS, hours=HOURS)
def test_working_time_to_due_equals_the_amount(start: datetime, hours: float) -> None:
    end = due(start, hours, "work_hours", CAL)
    assert working_seconds_between(start, end, CAL) == pytest.approx(hours * 3600, abs=1e-6)
    assert working_seconds_between(end, start, CAL) == pytest.approx(-hours * 3600, abs=1e-6)
    days = hours / 7
    end_days = due(start, days, "work_days", CAL)
    assert abs(end_days - end) <= timedelta(microseconds=1)


@settings(max_examples=300, deadline=None)
@given(start=STARTS, hours=st.floats(min_value=0.001, max_value=200))
def test_due_falls_inside_working_time(start: datetime, hours: float) -> None:
    local = due(start, hours, "work_hours", CAL).astimezone(SH)
    assert CAL.is_working_day(local.date())
    wall = local.time().replace(tzinfo=None)
    assert any(s < wall <= e for s, e in CAL.periods), local


@settings(max_examples=200, deadline=None)
@given(start=STARTS, hours=HOURS)
def test_traffic_light_is_red_only_after_the_due_time(start: datetime, hours: float) -> None:
    end = due(start, max(hours, 0.01), "work_hours", CAL)
    assert traffic_light(start, end, end, "work_hours", CAL) == "yellow"
    assert traffic_light(start, end, end + timedelta(microseconds=1), "work_hours", CAL) == "red"

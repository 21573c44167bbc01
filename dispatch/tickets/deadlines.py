"""Due times and traffic lights for the case workflow's step limits.

Pure: no I/O, no framework, no database. An event type states its limits in one of three
units (see :data:`dispatch.citydata.LIMIT_UNITS`):

``minutes``
    clock time, for urgent types: the calendar is ignored.
``work_hours``
    working time: only inside the day's work periods on working days.
``work_days``
    ``amount`` × the length of one working day (the sum of the work periods, 7 h in
    Nanning), counted as working time. So half a day is 3.5 working hours and one day
    dispatched at 10:00 is due 10:00 on the next working day. We count working time
    rather than "the end of the n-th working day" so that fractional limits mean
    something and every unit is measured the same way by :func:`traffic_light`.

Every datetime in and out is timezone-aware; results are in UTC. Clock arithmetic is done
in UTC (Python adds and subtracts aware datetimes of one zone in wall-clock time, which is
wrong across a daylight-saving change in the caller's zone). The calendar itself works in
local wall-clock time (``Asia/Shanghai`` for Nanning, which has no daylight saving time; a
calendar zone whose clocks jump inside a work period would be off by the jump).

Arithmetic is done in whole microseconds, so ``working_seconds_between(start, due(start,
h, "work_hours"))`` is exactly ``h * 3600`` up to microsecond rounding.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from itertools import pairwise
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from dispatch.citydata import CityData

Light = Literal["green", "yellow", "red"]
MINUTES, WORK_HOURS, WORK_DAYS = "minutes", "work_hours", "work_days"
UNITS = frozenset({MINUTES, WORK_HOURS, WORK_DAYS})
#: the share of the allowed time at which a timer turns yellow
YELLOW_AT = Fraction(4, 5)

_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True, init=False)
class WorkingCalendar:
    """Working days and the work periods (local wall-clock times) within each of them.

    A day is a working day if it is an adjusted workday (调休上班), or else if it is not a
    holiday and its ``weekday()`` is not in ``weekend`` (Monday = 0, so (5, 6) = Sat, Sun).
    """

    periods: tuple[tuple[time, time], ...]
    holidays: frozenset[date]
    workdays: frozenset[date]
    tz: ZoneInfo
    weekend: frozenset[int]
    #: length of one working day (all periods) in microseconds
    day_us: int

    def __init__(
        self,
        periods: Iterable[tuple[time, time]],
        holidays: Iterable[date],
        workdays: Iterable[date],
        tz: ZoneInfo,
        weekend: Iterable[int] = (5, 6),
    ) -> None:
        ps = tuple(periods)
        if not ps or any(s >= e for s, e in ps) or any(a[1] > b[0] for a, b in pairwise(ps)):
            raise ValueError(f"work periods must be non-empty, ordered and disjoint: {ps}")
        set_ = object.__setattr__
        set_(self, "periods", ps)
        set_(self, "holidays", frozenset(holidays))
        set_(self, "workdays", frozenset(workdays))
        set_(self, "tz", tz)
        set_(self, "weekend", frozenset(weekend))
        set_(self, "day_us", sum(_span_us(s, e) for s, e in ps))

    @classmethod
    def from_city(cls, city: CityData) -> WorkingCalendar:
        """The calendar of a loaded city (its calendar.toml and holidays.csv)."""
        cal = city.calendar
        return cls(
            periods=cal.work_periods,
            holidays={d for d, h in city.holidays.items() if h.kind == "holiday"},
            workdays={d for d, h in city.holidays.items() if h.kind == "workday"},
            tz=ZoneInfo(cal.timezone),
            # calendar.toml counts ISO weekdays (Monday = 1); weekend uses weekday() (Monday = 0)
            weekend={d for d in range(7) if d + 1 not in cal.work_weekdays},
        )

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day not in self.holidays and day.weekday() not in self.weekend

    def periods_of(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """The day's work periods as naive local datetimes (none on a day off)."""
        if self.is_working_day(day):
            for start, end in self.periods:
                yield datetime.combine(day, start), datetime.combine(day, end)


class LimitSource(Protocol):
    """Anything with an event type's step limits (the city-data or the database row)."""

    @property
    def accept_limit(self) -> float: ...
    @property
    def resolve_limit(self) -> float: ...
    @property
    def verify_limit(self) -> float: ...
    @property
    def limit_unit(self) -> str: ...


class Limits(NamedTuple):
    """Both due times of a freshly dispatched ticket."""

    accept_due: datetime
    resolve_due: datetime


def due(start: datetime, amount: float, unit: str, cal: WorkingCalendar) -> datetime:
    """The moment ``amount`` of ``unit`` has passed since ``start`` (in UTC).

    Working time begins at ``start`` or, outside working time, at the next period start;
    a limit used up exactly at the end of a period is due at that end, not the next morning.
    """
    if amount < 0:
        raise ValueError(f"a time limit cannot be negative: {amount}")
    _check_aware(start)
    if unit == MINUTES:
        return start.astimezone(UTC) + timedelta(minutes=amount)
    remaining = _amount_us(amount, unit, cal)
    if remaining == 0:
        return start.astimezone(UTC)
    local = _local(start, cal)
    day = local.date()
    while True:
        periods = list(cal.periods_of(day))
        if periods and day > local.date() and remaining > cal.day_us:
            remaining -= cal.day_us  # a whole working day: skip it without looking inside
        else:
            for p_start, p_end in periods:
                begin = max(p_start, local)
                if begin >= p_end:
                    continue
                available = (p_end - begin) // _US
                if remaining <= available:
                    return _utc(begin + remaining * _US, cal)
                remaining -= available
        day += _DAY


def working_seconds_between(a: datetime, b: datetime, cal: WorkingCalendar) -> float:
    """Working time from ``a`` to ``b`` in seconds (negative if ``b`` is before ``a``)."""
    return _working_us(a, b, cal) / 1_000_000


def elapsed_seconds(a: datetime, b: datetime, unit: str, cal: WorkingCalendar) -> float:
    """Time from ``a`` to ``b`` in the kind of time ``unit`` counts: clock or working."""
    return _elapsed_us(a, b, unit, cal) / 1_000_000


def traffic_light(
    start: datetime, due_at: datetime, now: datetime, unit: str, cal: WorkingCalendar
) -> Light:
    """Green under 80 % of the allowed time, yellow from 80 % up to the due time, then red.

    Both the allowed and the elapsed time are measured like the limit (working time for
    work_hours/work_days, clock time for minutes). Past the due time on the clock is red
    even when no working time has passed since (a step due Friday 17:30 is red on Saturday).
    """
    _check_aware(due_at)
    _check_aware(now)
    if now.astimezone(UTC) > due_at.astimezone(UTC):
        return "red"
    allowed = _elapsed_us(start, due_at, unit, cal)
    if allowed <= 0:
        return "yellow"  # nothing allowed and not yet late: as close to red as it gets
    if now <= start:  # nothing elapsed yet (every ticket at dispatch): no calendar walk
        return "green"
    elapsed = _elapsed_us(start, now, unit, cal)
    return "yellow" if Fraction(elapsed, allowed) >= YELLOW_AT else "green"


def deadlines_for(event_type: LimitSource, start: datetime, cal: WorkingCalendar) -> Limits:
    """Accept (签收) and resolve (处置) due times, both counted from dispatch at ``start``.

    City standards state the 处置 limit as the whole time from dispatch to resolution, so
    the resolve due time does not move when the unit accepts early or late.
    """
    unit = event_type.limit_unit
    return Limits(
        accept_due=due(start, event_type.accept_limit, unit, cal),
        resolve_due=due(start, event_type.resolve_limit, unit, cal),
    )


def verify_due(event_type: LimitSource, start: datetime, cal: WorkingCalendar) -> datetime:
    """Due time of the on-site check (核查), counted from the resolution at ``start``."""
    return due(start, event_type.verify_limit, event_type.limit_unit, cal)


def _amount_us(amount: float, unit: str, cal: WorkingCalendar) -> int:
    if unit == WORK_HOURS:
        return round(amount * 3_600_000_000)
    if unit == WORK_DAYS:
        return round(amount * cal.day_us)
    raise ValueError(f"unknown limit unit {unit!r}, expected one of {sorted(UNITS)}")


def _elapsed_us(a: datetime, b: datetime, unit: str, cal: WorkingCalendar) -> int:
    if unit == MINUTES:
        _check_aware(a)
        _check_aware(b)
        return (b.astimezone(UTC) - a.astimezone(UTC)) // _US
    if unit not in UNITS:
        raise ValueError(f"unknown limit unit {unit!r}, expected one of {sorted(UNITS)}")
    return _working_us(a, b, cal)


def _working_us(a: datetime, b: datetime, cal: WorkingCalendar) -> int:
    _check_aware(a)
    _check_aware(b)
    if b.astimezone(UTC) < a.astimezone(UTC):
        return -_working_us(b, a, cal)
    lo, hi = _local(a, cal), _local(b, cal)
    total = 0
    day = lo.date()
    while day <= hi.date():
        if lo.date() < day < hi.date():
            total += cal.day_us if cal.is_working_day(day) else 0
        else:
            for p_start, p_end in cal.periods_of(day):
                begin, end = max(p_start, lo), min(p_end, hi)
                if begin < end:
                    total += (end - begin) // _US
        day += _DAY
    return total


def _span_us(start: time, end: time) -> int:
    today = date(2000, 1, 1)
    return (datetime.combine(today, end) - datetime.combine(today, start)) // _US


def _check_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: deadlines need timezone-aware times")


def _local(moment: datetime, cal: WorkingCalendar) -> datetime:
    """Naive local wall-clock time of an aware moment."""
    return moment.astimezone(cal.tz).replace(tzinfo=None)


def _utc(local: datetime, cal: WorkingCalendar) -> datetime:
    return local.replace(tzinfo=cal.tz).astimezone(UTC)

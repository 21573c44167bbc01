"""Open311 request parameters: the spec's error, w3 date-times, and GET requests' filters.

Pure: parameters arrive as a mapping of names to lists of strings (query and form alike).
An optional parameter sent empty is the same as one not sent (spec: null ≡ absent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter, ValidationError

from dispatch.dbtypes import DbDatetime

Params = Mapping[str, Sequence[str]]

#: the spec's limits on GET requests: a 90-day window and 1,000 requests
MAX_SPAN = timedelta(days=90)
MAX_REQUESTS = 1000
STATUSES = ("open", "closed")
_DATETIME: TypeAdapter[datetime] = TypeAdapter(DbDatetime)


class Open311Error(Exception):
    """One or more errors of the spec's kind: HTTP 400, 403 or 404, each with a description."""

    def __init__(self, status: int, *descriptions: str) -> None:
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = descriptions


def first(params: Params, name: str) -> str | None:
    """The first value of ``name``, stripped; None when absent or empty."""
    values = params.get(name) or ()
    value = values[0].strip() if values else ""
    return value or None


def comma_list(value: str | None) -> list[str]:
    return [v for v in (p.strip() for p in (value or "").split(",")) if v]


def parse_datetime(value: str) -> datetime:
    """A w3 date-time that carries its zone (``Z`` or ``±HH:MM``), as UTC.

    A ``+`` that arrived as a space (an unencoded ``+08:00`` in a query) is put back.
    """
    text = value.strip()
    if " " in text and text.count(" ") == 1 and text.rsplit(" ", 1)[1][:2].isdigit():
        text = text.replace(" ", "+")
    try:
        return _DATETIME.validate_python(text).astimezone(UTC)
    except ValidationError:
        raise ValueError(
            f"{value!r} is not a date-time with a time zone, e.g. 2026-03-02T08:00:00+08:00"
        ) from None


def check_jurisdiction(params: Params, served: str) -> None:
    """One jurisdiction is served: none given is fine, another one does not exist here."""
    given = first(params, "jurisdiction_id")
    if given is not None and given.lower() != served.lower():
        raise Open311Error(404, f"jurisdiction_id {given!r} not found: this one serves {served}")


@dataclass(frozen=True)
class RequestFilters:
    """GET requests: ids override everything else; otherwise every given filter applies."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    page: int = 1
    page_size: int = MAX_REQUESTS
    extensions: bool = False


def parse_filters(params: Params, now: datetime) -> RequestFilters:
    """The filters of GET requests, with the default window; Open311Error (400) lists every
    problem found."""
    problems: list[str] = []

    def when(name: str) -> datetime | None:
        value = first(params, name)
        if value is None:
            return None
        try:
            return parse_datetime(value)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            return None

    def number(name: str, default: int, top: int) -> int:
        value = first(params, name)
        if value is None:
            return default
        if not value.isdigit() or not 1 <= int(value) <= top:
            problems.append(f"{name} must be a whole number from 1 to {top}")
            return default
        return int(value)

    ids = comma_list(first(params, "service_request_id"))
    if len(ids) > MAX_REQUESTS or any(len(i) > 32 for i in ids):
        problems.append(f"service_request_id takes at most {MAX_REQUESTS} ids of 32 characters")
    codes = comma_list(first(params, "service_code"))
    if any(len(c) > 16 for c in codes):
        problems.append("service_code: a code has at most 16 characters")
    statuses = comma_list(first(params, "status"))
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        problems.append(f"status must be open, closed or both (comma-separated), not {bad[0]!r}")
    start, end = when("start_date"), when("end_date")
    after, before = when("updated_after"), when("updated_before")
    page = number("page", 1, 2**31 - 1)
    page_size = number("page_size", MAX_REQUESTS, MAX_REQUESTS)
    for low, high, names in ((start, end, "start_date"), (after, before, "updated_after")):
        if low and high and high < low:
            other = "end_date" if names == "start_date" else "updated_before"
            problems.append(f"{other} is before {names}")
    if start and end and end - start > MAX_SPAN:
        problems.append("start_date to end_date may not span more than 90 days")
    if problems:
        raise Open311Error(400, *problems)
    if not ids:
        start, end = _window(start, end, now, by_update=bool(after or before))
    return RequestFilters(
        ids=tuple(ids),
        service_codes=tuple(codes),
        statuses=tuple(statuses),
        start=start,
        end=end,
        updated_after=after,
        updated_before=before,
        page=page,
        page_size=page_size,
        extensions=(first(params, "extensions") or "").lower() == "true",
    )


def _window(
    start: datetime | None, end: datetime | None, now: datetime, *, by_update: bool
) -> tuple[datetime | None, datetime | None]:
    """The spec's default: the last 90 days; one end given, 90 days from it. A client that
    asks by update time (updated_after/before) and gives no dates gets no date window."""
    if start is None and end is None:
        return (None, None) if by_update else (now - MAX_SPAN, now)
    if start is None:
        assert end is not None
        return end - MAX_SPAN, end
    if end is None:
        return start, start + MAX_SPAN
    return start, end

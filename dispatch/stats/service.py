"""The figure tables: per unit (with the composite score), per area, per event type, per day.

Who sees what (checked before anything is read): dispatchers, the command center and
admins see every figure; a team sees its own unit's figures only (the unit filter is
forced to its unit, and other units are 403); grid workers see none (403). Hotspots and
the district report are for the city roles only.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.auth.principal import Principal
from dispatch.dbtypes import utcnow
from dispatch.enums import Role
from dispatch.errors import Forbidden, Unprocessable
from dispatch.state import AppState
from dispatch.stats.cube import DAY, PERIOD
from dispatch.stats.figures import Tally, rates, score, step_figures, total
from dispatch.stats.queries import Scope, overdue_now, reading, tallies
from dispatch.stats.rollup import StatsContext
from dispatch.stats.schemas import FigureRow, FigureTable, StatsQuery, StepOut, View, labels

NO_UNIT = ("（未派遣）", "(not dispatched)")


def check_access(principal: Principal, unit: str | None, *, city_only: bool = False) -> str | None:
    """The unit filter the caller gets; Forbidden for figures the caller may not see."""
    if principal.role is Role.worker:
        raise Forbidden("grid workers see no evaluation figures")
    if principal.role is Role.team:
        if city_only:
            raise Forbidden("a team sees only its own unit's figures")
        if unit is not None and unit != principal.unit_id:
            raise Forbidden("a team sees only its own unit's figures", details={"unit": unit})
        return principal.unit_id or ""
    if not principal.sees_city:  # pragma: no cover - every role is handled above
        raise Forbidden(f"a {principal.role.value} sees no evaluation figures")
    return unit


def check_area(state: AppState, area: str) -> None:
    """The area must be "" (the city) or a prefix of some cell's code."""
    codes = state.grid.codes
    i = bisect_left(codes, area)
    if area and not (i < len(codes) and codes[i].startswith(area)):
        raise Unprocessable(
            f"no cell's code starts with {area!r}", code="unknown_area", details={"area": area}
        )


def class_types(state: AppState, event_class: str | None) -> set[str] | None:
    if event_class is None:
        return None
    types = {c for c, et in state.city.event_types.items() if et.class_code == event_class}
    if not types:
        raise Unprocessable(
            f"unknown event class {event_class!r}",
            code="unknown_event_class",
            details={"class": event_class},
        )
    return types


def scope_of(
    state: AppState, principal: Principal, q: StatsQuery, *, city_only: bool = False
) -> Scope:
    unit = check_access(principal, q.unit, city_only=city_only)
    if q.unit is not None and q.unit not in state.city.units:
        raise Unprocessable(f"unknown unit {q.unit!r}", code="unknown_unit")
    check_area(state, q.area)
    return Scope(q.first, q.last, q.area, unit, class_types(state, q.event_class))


def child_level(ctx: StatsContext, prefix: str) -> str:
    """The level one step below ``prefix``: districts under the city, streets under a
    district, …, cells under a community (and the cell itself for a cell's code)."""
    for level, n in ctx.lengths.items():
        if n > len(prefix):
            return level
    return "cell"


def area_name(state: AppState, code: str) -> tuple[str, str]:
    if not code:
        return "全市", "Whole city"
    a = state.grid.areas.get(code)
    return (a.name_zh, a.name_en) if a else (code, code)


def figure_row(
    key: str,
    names: tuple[str, str],
    t: Tally,
    overdue: int | None = None,
    group: str | None = None,
) -> FigureRow:
    return FigureRow(
        key=key,
        name_zh=names[0],
        name_en=names[1],
        group=group,
        counts=dict(t.counts),
        rates=rates(t),
        steps={k: StepOut(**v) for k, v in step_figures(t).items()},  # type: ignore[arg-type]
        overdue_now=overdue,
    )


def _rollup_info(s: Session, q: StatsQuery) -> tuple[date | None, datetime | None]:
    sealed = s.execute(
        select(func.max(PERIOD.c.period_start)).where(
            PERIOD.c.span == DAY, PERIOD.c.sealed.is_(True)
        )
    ).scalar_one()
    latest = s.execute(
        select(func.max(PERIOD.c.computed_at)).where(
            PERIOD.c.span == DAY, PERIOD.c.period_start.between(q.first, q.last)
        )
    ).scalar_one()
    return sealed, latest


def _table(
    state: AppState,
    view: View,
    q: StatsQuery,
    scope: Scope,
    build: Callable[[Session, datetime], tuple[list[FigureRow], FigureRow | None]],
) -> FigureTable:
    now = utcnow()
    with reading(state.db.read_engine) as s:
        rows, tot = build(s, now)
        sealed, latest = _rollup_info(s, q)
    names = area_name(state, q.area)
    return FigureTable(
        view=view,
        first=q.first,
        last=q.last,
        area=q.area,
        area_name_zh=names[0],
        area_name_en=names[1],
        unit=scope.unit,
        event_class=q.event_class,
        as_of=now,
        sealed_through=sealed,
        rolled_up_at=latest,
        rows=rows,
        total=tot,
        labels=labels(),
    )


def _total_row(
    state: AppState, q: StatsQuery, groups: Mapping[str, Tally], overdue: int
) -> FigureRow:
    return figure_row(q.area or "*", area_name(state, q.area), total(groups.values()), overdue)


def units_table(state: AppState, principal: Principal, q: StatsQuery) -> FigureTable:
    """Per unit, with the composite score and the rank by it (the league table)."""
    scope = scope_of(state, principal, q)
    ctx, weights = state.stats, state.settings.stats_weights

    def build(s: Session, now: datetime) -> tuple[list[FigureRow], FigureRow | None]:
        groups = tallies(s, scope, "unit", ctx.lengths)
        late = overdue_now(s, scope, "unit", now)
        rows = []
        for uid in sorted((set(groups) | set(late)) - {""}):
            t = groups.get(uid) or Tally()
            unit = state.city.units.get(uid)
            names = (unit.name_zh, unit.name_en) if unit else (uid, uid)
            row = figure_row(uid, names, t, late.get(uid, 0))
            row.score = score(row.rates, weights)
            rows.append(row)
        rows.sort(key=lambda r: (r.score is None, -(r.score or 0), r.key))
        for i, row in enumerate(rows, 1):
            row.rank = i if row.score is not None else None
        if principal.role is Role.team:
            return rows, None
        return rows, _total_row(state, q, groups, sum(late.values()))

    table = _table(state, "units", q, scope, build)
    table.weights = dict(weights)
    return table


def areas_table(state: AppState, principal: Principal, q: StatsQuery) -> FigureTable:
    """Per area one level below ``area`` (districts of the city, streets of a district…)."""
    scope = scope_of(state, principal, q)
    ctx = state.stats
    level = child_level(ctx, q.area)

    def build(s: Session, now: datetime) -> tuple[list[FigureRow], FigureRow | None]:
        groups = tallies(s, scope, "area", ctx.lengths, area_level=level)
        late = overdue_now(s, scope, "area", now, area_level=level)
        rows = [
            figure_row(
                code, area_name(state, code), groups.get(code) or Tally(), late.get(code, 0), level
            )
            for code in sorted(set(groups) | set(late))
        ]
        return rows, _total_row(state, q, groups, sum(late.values()))

    return _table(state, "areas", q, scope, build)


def _type_rows(
    state: AppState, groups: Mapping[str, Tally], late: Mapping[str, int], by: str
) -> list[FigureRow]:
    """Per event type (with its class in ``group``) or, ``by="class"``, per event class."""
    types = state.city.event_types
    codes = sorted(set(groups) | set(late))
    if by != "class":
        return [
            figure_row(
                code,
                (types[code].name_zh, types[code].name_en),
                groups.get(code) or Tally(),
                late.get(code, 0),
                types[code].class_code,
            )
            for code in codes
        ]
    classes: dict[str, Tally] = {}
    late_c: dict[str, int] = {}
    for code in codes:
        c = types[code].class_code
        classes.setdefault(c, Tally()).add(groups.get(code) or Tally())
        late_c[c] = late_c.get(c, 0) + late.get(code, 0)
    some = {types[c].class_code: types[c] for c in codes}
    return [
        figure_row(c, (some[c].class_zh, some[c].class_en), t, late_c[c])
        for c, t in sorted(classes.items())
    ]


def types_tables(
    state: AppState, principal: Principal, q: StatsQuery, by: Sequence[str] = ("type",)
) -> list[FigureTable]:
    """The event-type table once per ``by`` ("type", "class"), from one reading of the
    figures."""
    scope = scope_of(state, principal, q)
    ctx = state.stats
    read: list[tuple[dict[str, Tally], dict[str, int]]] = []

    def build_for(kind: str) -> Callable[[Session, datetime], tuple[list[FigureRow], FigureRow]]:
        def build(s: Session, now: datetime) -> tuple[list[FigureRow], FigureRow]:
            if not read:
                read.append(
                    (
                        tallies(s, scope, "event_type", ctx.lengths),
                        overdue_now(s, scope, "event_type", now),
                    )
                )
            groups, late = read[0]
            return _type_rows(state, groups, late, kind), _total_row(
                state, q, groups, sum(late.values())
            )

        return build

    return [_table(state, "event-types", q, scope, build_for(kind)) for kind in by]


def types_table(
    state: AppState, principal: Principal, q: StatsQuery, by: str = "type"
) -> FigureTable:
    """Per event type (``by="type"``, with its class in ``group``) or per event class."""
    return types_tables(state, principal, q, (by,))[0]


def days_table(state: AppState, principal: Principal, q: StatsQuery) -> FigureTable:
    """Per day of the period (the trend), with every day present, zeros included."""
    scope = scope_of(state, principal, q)
    ctx = state.stats

    def build(s: Session, now: datetime) -> tuple[list[FigureRow], FigureRow | None]:
        groups = tallies(s, scope, "day", ctx.lengths)
        rows = []
        d = q.first
        while d <= q.last:
            key = d.isoformat()
            rows.append(figure_row(key, (key, key), groups.get(key) or Tally()))
            d = date.fromordinal(d.toordinal() + 1)
        return rows, _total_row(state, q, groups, 0).model_copy(update={"overdue_now": None})

    return _table(state, "days", q, scope, build)

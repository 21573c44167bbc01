"""The monthly report of one district (区级月度绩效评价报告) as a self-contained print page.

Everything the page needs is inline (CSS included, no script, no fonts or images from
elsewhere): it prints as it is from any browser, on an intranet with no internet.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from dispatch.auth.principal import Principal
from dispatch.errors import Unprocessable
from dispatch.state import AppState
from dispatch.stats.cube import month_end
from dispatch.stats.figures import RATES, RELATIVE_ACCURACY, STEPS
from dispatch.stats.hotspots import Where, busiest_cells, repeats
from dispatch.stats.places import Repeat
from dispatch.stats.queries import reading
from dispatch.stats.schemas import StatsQuery
from dispatch.stats.service import (
    area_name,
    areas_table,
    check_access,
    types_tables,
    units_table,
)

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
TOP_TYPES = 15
TOP_CELLS = 10
TOP_REPEATS = 20
REPEAT_MIN = 3


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("dispatch.stats", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: "—" if v is None else f"{v * 100:.2f}%"
    env.filters["hours"] = lambda v: "—" if v is None else f"{v / 3600:.2f}"
    env.filters["score"] = lambda v: "—" if v is None else f"{v:.1f}"
    return env


def parse_month(text: str) -> date:
    m = MONTH_RE.fullmatch(text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise Unprocessable("month must be YYYY-MM", code="invalid_month", details={"month": text})
    return date(int(m.group(1)), int(m.group(2)), 1)


@dataclass(frozen=True, slots=True)
class HotCell:
    code: str
    cases: int
    community: str
    street: str


def district_report(state: AppState, principal: Principal, *, district: str, month: str) -> str:
    """The HTML of one district's month: summary, unit league, streets, types, hotspots."""
    check_access(principal, None, city_only=True)
    area = state.grid.areas.get(district)
    if area is None or area.level != "district":
        raise Unprocessable(
            f"{district!r} is not a district code",
            code="unknown_district",
            details={"district": district},
        )
    first = parse_month(month)
    q = StatsQuery.model_validate({"from": first, "to": month_end(first), "area": district})
    where = Where.of(q.first, q.last, state.stats.tz, district)

    def hotspots() -> tuple[list[tuple[str, int]], list[Repeat]]:
        with reading(state.db.read_engine, roomy=False) as s:
            return busiest_cells(s, where, TOP_CELLS), repeats(s, where, REPEAT_MIN, TOP_REPEATS)

    # four independent readings, each its own transaction: side by side, the page takes
    # about as long as the slowest of them instead of their sum (the database has the
    # cores; each reading spends most of its time there)
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="district-report") as pool:
        units_f = pool.submit(units_table, state, principal, q)
        streets_f = pool.submit(areas_table, state, principal, q)
        types_f = pool.submit(types_tables, state, principal, q, ("type", "class"))
        hot_f = pool.submit(hotspots)
        units, streets = units_f.result(), streets_f.result()
        types, classes = types_f.result()
        top_cells, found = hot_f.result()
    top_types = sorted(types.rows, key=lambda r: (-r.counts["reports"], r.key))[:TOP_TYPES]
    grid = state.grid
    hot = []
    for code, n in top_cells:
        if code in grid:
            i = grid.position(code)
            comm, street = grid.parents["community"][i], grid.parents["street"][i]
            hot.append(HotCell(code, n, area_name(state, comm)[0], area_name(state, street)[0]))
    names = {c: et.name_zh for c, et in state.city.event_types.items()}
    context: dict[str, Any] = {
        "district": area,
        "month": first,
        "units": units,
        "summary": units.total,
        "streets": streets,
        "classes": classes.rows,
        "top_types": top_types,
        "hot_cells": hot,
        "repeats": found,
        "repeat_min": REPEAT_MIN,
        "type_names": names,
        "steps": STEPS,
        "rates": RATES,
        "accuracy": RELATIVE_ACCURACY,
        "weights": units.weights or {},
        "rate_names": {r.key: r for r in RATES},
    }
    return _env().get_template("report.html").render(**context)

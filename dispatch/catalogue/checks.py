"""Is a grid fit to route with this city's data? ``check-data`` and every new grid version.

A redrawn grid can make codes vanish that the city's data names: a unit's area, a
responsibility rule's prefix. A grid is refused when some event type in some cell has no
lead unit (or misses a supporting one), or when a unit's area is not in it; rules whose
prefix no longer matches any cell are only reported, since a catch-all may still cover them.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from dispatch.citydata import CityData
from dispatch.routing.rules import Hole, RuleTable, coverage_holes
from geo import Grid


@dataclass
class GridCheck:
    holes: list[Hole] = field(default_factory=list)
    #: units whose area code is no city, district, street or community of the grid
    missing_units: list[str] = field(default_factory=list)
    #: responsibility rules (event|prefix) whose prefix matches no cell: they never apply
    idle_rules: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.holes and not self.missing_units

    def problems(self) -> list[str]:
        lines = [
            f"HOLE {h.event_code} in {h.cells_affected} cells (e.g. {h.sample_cell}): {h.reason}"
            for h in self.holes
        ]
        if self.missing_units:
            lines.append(f"units for areas the grid does not have: {_some(self.missing_units)}")
        return lines

    def warnings(self) -> list[str]:
        return [f"rule {r} matches no cell of the grid" for r in self.idle_rules]


def _some(items: list[str], n: int = 12) -> str:
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def check_grid(city: CityData, grid: Grid) -> GridCheck:
    """Routing holes, units outside the grid, idle rules: milliseconds for 40,000 cells."""
    holes = coverage_holes(RuleTable.from_city(city), city.event_types, grid.codes)
    areas = sorted(grid.areas)
    missing = sorted(u.id for u in city.units.values() if not prefixes_any(areas, u.area_code))
    codes = grid.codes  # in code order
    idle = sorted(
        f"{r.event}|{r.area_prefix}" for r in city.rules if not prefixes_any(codes, r.area_prefix)
    )
    return GridCheck(holes=holes, missing_units=missing, idle_rules=idle)


def prefixes_any(sorted_codes: list[str], prefix: str) -> bool:
    """Some code starts with ``prefix`` (or equals it): one binary search."""
    i = bisect.bisect_left(sorted_codes, prefix)
    return i < len(sorted_codes) and sorted_codes[i].startswith(prefix)

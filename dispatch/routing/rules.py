"""Who is responsible for a case: the rule table and its longest-prefix lookup. Pure: no I/O.

A rule names an event selector and an area-code prefix ("属地管理、责随权走、责任主体唯一").
For a case of event type T in the cell with code C, the deciding rule is found in two steps:

1. **Event specificity first.** Rules for T itself beat rules for T's class (``class:06``),
   which beat the wildcard ``*``. The first level that has any rule whose prefix C starts
   with decides, even if a less specific level has a longer prefix.
2. **Then the longest area prefix** within that level: a street rule beats a district rule,
   which beats a city rule, as in an IP routing table.

Two rules with the same event selector and the same prefix would make the choice arbitrary,
so they are refused (at load, with the line; here too, for data built in code).

A unit kind in a rule resolves to the unit of that kind whose ``area_code`` is the longest
prefix of C (a street's 街道办 inside a district, a district's 大队 inside the city);
``unit:<id>`` names one unit outright. A lead or supporting unit that cannot be found is a
:class:`RoutingError`: a case must never silently lose its lead or a joint-enforcement
partner, and :func:`coverage_holes` lists every such gap before the city goes live.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

from dispatch.citydata import (
    ANY_EVENT,
    CLASS_PREFIX,
    UNIT_PREFIX,
    CityData,
    CityDataError,
    Rule,
    Unit,
)


class RoutingError(LookupError):
    """No unit can be found for a case; says which event, which cell and what is missing."""

    def __init__(self, event_code: str, cell_code: str, missing: str) -> None:
        super().__init__(f"cannot route event {event_code!r} in cell {cell_code!r}: {missing}")
        self.event_code = event_code
        self.cell_code = cell_code
        self.missing = missing


@dataclass(frozen=True, slots=True)
class Assignment:
    """The outcome for one case: lead unit (主办), supporting units (协办) and the deciding rule."""

    lead: str
    support: tuple[str, ...]
    rule: Rule


@dataclass(frozen=True, slots=True)
class Hole:
    """Cells where an event type cannot be routed: one sample cell, how many cells, and why."""

    event_code: str
    sample_cell: str
    cells_affected: int
    reason: str


def _lengths_desc(codes: Iterable[str]) -> tuple[int, ...]:
    return tuple(sorted({len(c) for c in codes}, reverse=True))


class RuleTable:
    """Responsibility rules indexed for lookups in a few dict probes per case."""

    __slots__ = (
        "_class_of",
        "_rule_lengths",
        "_rules",
        "_significant",
        "_significant_lengths",
        "_unit_ids",
        "_unit_lengths",
        "_units",
    )

    def __init__(
        self, rules: Iterable[Rule], units: Iterable[Unit], class_of: dict[str, str]
    ) -> None:
        """Index the rules, the units and each event type's class code."""
        self._rules: dict[tuple[str, str], Rule] = {}
        for rule in rules:
            key = (rule.event, rule.area_prefix)
            if key in self._rules and self._rules[key] != rule:
                raise CityDataError(
                    "responsibility rules", None, f"two rules for {rule.event} @ {rule.area_prefix}"
                )
            self._rules[key] = rule
        self._units: dict[tuple[str, str], str] = {}
        self._unit_ids: set[str] = set()
        for unit in units:
            self._units[(unit.kind, unit.area_code)] = unit.id
            self._unit_ids.add(unit.id)
        self._class_of = dict(class_of)
        self._rule_lengths = _lengths_desc(prefix for _, prefix in self._rules)
        self._unit_lengths = _lengths_desc(area for _, area in self._units)
        self._significant = {p for _, p in self._rules} | {a for _, a in self._units}
        self._significant_lengths = _lengths_desc(self._significant)

    @classmethod
    def from_city(cls, city: CityData) -> RuleTable:
        """Build the table from loaded city data."""
        return cls(
            city.rules,
            city.units.values(),
            {code: t.class_code for code, t in city.event_types.items()},
        )

    def rule_for(self, event_code: str, cell_code: str) -> Rule:
        """The deciding rule: most specific event level first, then the longest prefix."""
        if event_code not in self._class_of:
            raise RoutingError(event_code, cell_code, "unknown event type")
        if not cell_code:
            raise RoutingError(event_code, cell_code, "empty cell code")
        selectors = (event_code, CLASS_PREFIX + self._class_of[event_code], ANY_EVENT)
        for selector in selectors:
            for length in self._rule_lengths:
                rule = self._rules.get((selector, cell_code[:length]))
                if rule is not None and length <= len(cell_code):
                    return rule
        raise RoutingError(event_code, cell_code, "no responsibility rule covers this cell")

    def resolve(self, event_code: str, cell_code: str) -> Assignment:
        """Lead and supporting unit ids for a case of ``event_code`` in ``cell_code``."""
        rule = self.rule_for(event_code, cell_code)
        lead = self._unit_for(rule.lead, "lead", rule, event_code, cell_code)
        support: list[str] = []
        for target in rule.support:
            unit_id = self._unit_for(target, "support", rule, event_code, cell_code)
            if unit_id != lead and unit_id not in support:
                support.append(unit_id)
        return Assignment(lead, tuple(support), rule)

    def area_key(self, cell_code: str) -> str:
        """The longest rule prefix or unit area code that ``cell_code`` starts with ('' if none).

        Routing compares a cell only with these prefixes, so two cells with the same key
        always get the same answer: checks can resolve once per key instead of once per cell.
        """
        for length in self._significant_lengths:
            if length <= len(cell_code) and cell_code[:length] in self._significant:
                return cell_code[:length]
        return ""

    def _unit_for(self, target: str, role: str, rule: Rule, event_code: str, cell_code: str) -> str:
        where = f"rule {rule.event} @ {rule.area_prefix}"
        if target.startswith(UNIT_PREFIX):
            unit_id = target.removeprefix(UNIT_PREFIX)
            if unit_id not in self._unit_ids:
                raise RoutingError(
                    event_code, cell_code, f"{role} unit {unit_id!r} does not exist ({where})"
                )
            return unit_id
        for length in self._unit_lengths:
            found = self._units.get((target, cell_code[:length]))
            if found is not None and length <= len(cell_code):
                return found
        raise RoutingError(
            event_code,
            cell_code,
            f"no {role} unit of kind {target!r} has an area code that prefixes the cell ({where})",
        )


def coverage_holes(
    table: RuleTable, event_codes: Iterable[str], cell_codes: Iterable[str]
) -> list[Hole]:
    """Every (event type, group of cells) that does not resolve to a lead and all supporters.

    Cells are grouped by :meth:`RuleTable.area_key`, so a city of ~35,000 cells and ~90 types
    costs one pass over the cells plus one lookup per (key, type), not 3 million lookups.
    Holes with the same event and reason are merged; the first sample cell is kept.
    """
    samples: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for cell in cell_codes:
        key = table.area_key(cell)
        samples.setdefault(key, cell)
        counts[key] += 1
    holes: dict[tuple[str, str], Hole] = {}
    for event in dict.fromkeys(event_codes):
        for key, sample in samples.items():
            try:
                table.resolve(event, sample)
            except RoutingError as exc:
                seen = holes.get((event, exc.missing))
                holes[(event, exc.missing)] = (
                    replace(seen, cells_affected=seen.cells_affected + counts[key])
                    if seen
                    else Hole(event, sample, counts[key], exc.missing)
                )
    return sorted(holes.values(), key=lambda h: (h.event_code, h.sample_cell, h.reason))

"""Who receives which feed event: the REST API's visibility rules, applied to events. Pure."""

from __future__ import annotations

from collections.abc import Hashable

from dispatch.auth.principal import Principal
from dispatch.feed.reader import FeedEvent


def audience_key(p: Principal) -> Hashable:
    """Principals with equal keys see exactly the same events (one check serves them all)."""
    if p.sees_city:
        return ("city",)
    if p.unit_id is not None and p.may_see_ticket(unit_id=p.unit_id):
        return ("unit", p.unit_id)
    return ("user", p.user_id, p.role, p.area_prefix)


def may_see(p: Principal, ev: FeedEvent) -> bool:
    """A ticket event as ``GET /tickets/{id}`` would show it, any other as ``GET /cases/{id}``."""
    if p.sees_city:
        return True
    if ev.ticket_id is not None:
        return ev.unit_id is not None and p.may_see_ticket(unit_id=ev.unit_id)
    if ev.reporter_id is None or ev.cell is None:
        return False
    return p.may_see_case(reporter_id=ev.reporter_id, cell=ev.cell, unit_ids=set(ev.case_units))

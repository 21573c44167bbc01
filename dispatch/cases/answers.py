"""The answer to a report, as JSON, built from table rows (the intake's bulk path has no
ORM objects to hand to the response model)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import orjson

from dispatch.cases.views import deadline_light
from dispatch.state import AppState


def answer_json(
    state: AppState,
    case: dict[str, Any],
    tickets: list[dict[str, Any]],
    *,
    report_id: int,
    joined: bool,
    photo_ids: list[str],
    now: datetime,
) -> str:
    """The ReportOut JSON built from table rows (fresh dicts or rows just read back)."""
    et = state.city.event_types[case["event_type"]]
    areas = state.grids.areas(case["grid_version"])  # a joined old case: its version's names

    def name(code: str) -> str:
        return areas[code].name_zh if code in areas else code

    def unit(t: dict[str, Any]) -> dict[str, Any]:
        u = state.city.units.get(t["unit_id"])
        light = deadline_light(
            state, t["status"], t["dispatched_at"], t["accept_due"], t["resolve_due"], et.code, now
        )
        return dict(
            ticket_id=t["id"], unit_id=t["unit_id"],
            unit_name_zh=u.name_zh if u else t["unit_id"],
            unit_name_en=u.name_en if u else t["unit_id"], role=t["role"],
            status=t["status"], version=t["version"], accept_due=t["accept_due"],
            resolve_due=t["resolve_due"], deadline_state=light,
        )  # fmt: skip

    loc = {k: case[k] for k in ("lon", "lat", "input_crs", "input_lon", "input_lat",
                                "accuracy_m", "near_edge", "snapped_m", "cell", "community",
                                "street", "district", "grid_version")}  # fmt: skip
    loc.update(community_name=name(case["community"]), street_name=name(case["street"]),
               district_name=name(case["district"]))  # fmt: skip
    doc = dict(
        id=case["id"], case_no=case["case_no"], status=case["status"], version=case["version"],
        event_type=dict(code=et.code, name_zh=et.name_zh, name_en=et.name_en,
                        class_code=et.class_code, urgent=et.urgent),
        location=loc, description=case["description"],
        units=[unit(t) for t in sorted(tickets, key=lambda t: (t["role"] != "lead", t["id"]))],
        report_count=case["report_count"], rework_count=case["rework_count"],
        self_handled=case["self_handled"], created_at=case["created_at"],
        captured_at=case["captured_at"], dispatched_at=case["dispatched_at"],
        resolved_at=case.get("resolved_at"), verify_due=case.get("verify_due"),
        closed_at=case.get("closed_at"), reject_reason=case.get("reject_reason"),
        photo_ids=photo_ids, report_id=report_id, joined_existing=joined,
    )  # fmt: skip
    return orjson.dumps(doc, default=_iso, option=orjson.OPT_UTC_Z).decode()


def _iso(v: Any) -> str:
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, Enum):
        return str(v.value)
    raise TypeError(type(v))

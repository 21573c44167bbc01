"""Writing the event log: every state change adds its event in the same transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session

from dispatch.dbtypes import utcnow
from dispatch.feed.models import Event


def record(
    session: Session,
    type: str,
    *,
    actor_id: int | None = None,
    case_id: int | None = None,
    ticket_id: int | None = None,
    unit_id: str | None = None,
    entity: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    at: datetime | None = None,
    **data: Any,
) -> Event:
    """Add one event row to the session (flushed with the change it describes)."""
    ev = Event(
        type=type,
        at=at or utcnow(),
        actor_id=actor_id,
        case_id=case_id,
        ticket_id=ticket_id,
        unit_id=unit_id,
        entity=entity,
        from_status=from_status,
        to_status=to_status,
        data=json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":")),
    )
    session.add(ev)
    return ev

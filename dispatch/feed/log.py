"""Writing the event log: every state change adds its event in the same transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from dispatch.dbtypes import utcnow
from dispatch.feed.models import Event
from dispatch.feed.sequence import mark


def json_default(value: Any) -> str:
    """Datetimes as ISO 8601 UTC with Z, like every other time the API shows."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


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
    """Add one event row to the session (flushed with the change it describes; numbered at
    commit by :mod:`dispatch.feed.sequence`)."""
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
        data=json.dumps(data, ensure_ascii=False, default=json_default, separators=(",", ":")),
    )
    session.add(ev)
    mark(session)
    return ev

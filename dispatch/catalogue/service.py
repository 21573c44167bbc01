"""Copy a city folder's reference data into the database, and create the demo accounts.

The grid is not copied here: it is a version of its own (dispatch.catalogue.grids).

Idempotent and safe when several processes start at once: rows are inserted with
"on conflict do nothing/update", so the first process writes and the others agree.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, col

from dispatch.auth.models import User
from dispatch.auth.service import hash_password
from dispatch.catalogue.models import EventType
from dispatch.citydata import CityData
from dispatch.db import transaction
from dispatch.enums import Role
from dispatch.units.models import Team, Unit

_CHUNK = 2000


def sync_reference(engine: Engine, city: CityData) -> None:
    """Event types, units and teams, upserted in one transaction (the grid: open_grid)."""
    with transaction(engine) as s:
        conn = s.connection()
        _upsert(
            conn,
            _table(EventType),
            [
                {
                    "code": e.code,
                    "standard": e.standard,
                    "old_code": e.old_code or None,
                    "class_code": e.class_code,
                    "class_zh": e.class_zh,
                    "class_en": e.class_en,
                    "name_zh": e.name_zh,
                    "name_en": e.name_en,
                    "accept_limit": e.accept_limit,
                    "resolve_limit": e.resolve_limit,
                    "verify_limit": e.verify_limit,
                    "limit_unit": e.limit_unit,
                    "urgent": e.urgent,
                    "focus": e.focus,
                    "icon": e.icon,
                }
                for e in city.event_types.values()
            ],
            key="code",
        )
        _upsert(
            conn,
            _table(Unit),
            [
                {
                    "id": u.id,
                    "kind": u.kind,
                    "area_code": u.area_code,
                    "name_zh": u.name_zh,
                    "name_en": u.name_en,
                }
                for u in city.units.values()
            ],
            key="id",
        )
        _upsert(
            conn,
            _table(Team),
            [
                {"id": t.id, "unit_id": t.unit_id, "name_zh": t.name_zh, "name_en": t.name_en}
                for t in city.teams.values()
            ],
            key="id",
        )


def _table(model: type[SQLModel]) -> Table:
    """A table model's ``Table`` (sqlmodel's stubs do not declare ``__table__``)."""
    table = inspect(model).local_table
    assert isinstance(table, Table)
    return table


def _upsert(
    conn: Any, table: Table, rows: list[dict[str, Any]], *, key: str, update: bool = True
) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        stmt = dialect.insert(table).values(chunk)
        if update:
            cols = {c: stmt.excluded[c] for c in chunk[0] if c != key}
            stmt = stmt.on_conflict_do_update(index_elements=[key], set_=cols)
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=[key])
        conn.execute(stmt)


@dataclass
class DemoAccounts:
    password: str
    generated: bool
    usernames: list[str]


#: the demo grid workers' beats: one generated street each, across the districts
WORKER_BEATS = ("450103901", "450103902", "450102901", "450105901", "450107901")


def ensure_demo_accounts(
    engine: Engine, city: CityData, password: str | None
) -> DemoAccounts | None:
    """admin, dispatcher, commander, worker1…5 and team-<unit id>; only on an empty user table.

    Processes starting together on a fresh database (``serve --workers 2``) take turns: on
    PostgreSQL behind an advisory lock, on SQLite behind the write lock taken at BEGIN; the
    later one finds the accounts made and leaves them."""
    with transaction(engine) as s:
        if engine.dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(hashtext('griddispatch.demo_accounts'))"))
        if s.execute(select(col(User.id)).limit(1)).first() is not None:
            return None
        generated = password is None
        pw = password or secrets.token_urlsafe(9)
        # one Argon2 hash for every demo account: hashing 100 of them would delay start-up
        h = hash_password(pw)
        first_team: dict[str, str] = {}
        for t in sorted(city.teams.values(), key=lambda t: t.id):
            first_team.setdefault(t.unit_id, t.id)
        users = [
            User(username="admin", password_hash=h, role=Role.admin, display_name="管理员 Admin"),
            User(
                username="dispatcher",
                password_hash=h,
                role=Role.dispatcher,
                display_name="派遣员 Dispatcher",
            ),
            User(
                username="commander",
                password_hash=h,
                role=Role.commander,
                display_name="指挥中心 Commander",
            ),
        ]
        for n, beat in enumerate(WORKER_BEATS, start=1):
            users.append(
                User(
                    username=f"worker{n}",
                    password_hash=h,
                    role=Role.worker,
                    display_name=f"网格员{n} Grid worker {n}",
                    area_prefix=beat,
                )
            )
        for unit in sorted(city.units.values(), key=lambda u: u.id):
            users.append(
                User(
                    username=f"team-{unit.id}",
                    password_hash=h,
                    role=Role.team,
                    display_name=unit.name_zh,
                    unit_id=unit.id,
                    team_id=first_team.get(unit.id),
                )
            )
        s.add_all(users)
    return DemoAccounts(pw, generated, [u.username for u in users])

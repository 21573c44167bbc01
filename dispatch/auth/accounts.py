"""Accounts for real people: create, change a password, disable, list (``griddispatch user``).

Demo accounts are made only on an empty database; a city's own staff are added here. A
disabled account's tokens are revoked in the same transaction, so no process accepts them
after its few seconds of token cache.
"""

from __future__ import annotations

from sqlalchemy import Engine, select, update
from sqlmodel import col

from dispatch.auth.models import AuthSession, User
from dispatch.auth.service import hash_password
from dispatch.db import transaction
from dispatch.dbtypes import utcnow
from dispatch.enums import Role
from dispatch.errors import Conflict, NotFound, Unprocessable
from dispatch.units.models import Team, Unit

MIN_PASSWORD = 8


def create_user(
    engine: Engine,
    username: str,
    password: str,
    role: Role,
    *,
    display_name: str = "",
    unit_id: str | None = None,
    team_id: str | None = None,
    beat: str | None = None,
) -> User:
    """A new account; a team member needs a unit (and may have a team), a worker may have a
    beat (the area-code prefix of the cells they walk)."""
    _check_password(password)
    if role == Role.team and not unit_id:
        raise Unprocessable("a team account needs --unit (the unit whose tickets it works)")
    if role != Role.team and (unit_id or team_id):
        raise Unprocessable("only team accounts belong to a unit or team")
    if beat is not None and role != Role.worker:
        raise Unprocessable("only grid workers have a beat")
    with transaction(engine) as s:
        if s.execute(select(col(User.id)).where(col(User.username) == username)).first():
            raise Conflict(f"there is already an account {username!r}")
        if unit_id and s.get(Unit, unit_id) is None:
            raise NotFound(f"no unit {unit_id!r} (GET /api/v1/units lists them)")
        team = s.get(Team, team_id) if team_id else None
        if team_id and (team is None or team.unit_id != unit_id):
            raise NotFound(f"no team {team_id!r} of unit {unit_id!r}")
        user = User(username=username, password_hash=hash_password(password), role=role,
                    display_name=display_name or username, unit_id=unit_id, team_id=team_id,
                    area_prefix=beat)  # fmt: skip
        s.add(user)
    return user


def set_password(engine: Engine, username: str, password: str) -> None:
    """A new password; the account's tokens are revoked (sign in again)."""
    _check_password(password)
    _change(engine, username, password_hash=hash_password(password))


def set_active(engine: Engine, username: str, active: bool) -> None:
    """Disable (tokens revoked at once) or enable an account."""
    _change(engine, username, active=active)


def list_users(engine: Engine) -> list[User]:
    with transaction(engine) as s:
        return list(s.execute(select(User).order_by(col(User.username))).scalars())


def _change(engine: Engine, username: str, **values: object) -> None:
    with transaction(engine) as s:
        user = s.execute(select(User).where(col(User.username) == username)).scalars().first()
        if user is None:
            raise NotFound(f"no account {username!r}")
        for key, value in values.items():
            setattr(user, key, value)
        s.execute(
            update(AuthSession)
            .where(col(AuthSession.user_id) == user.id, col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=utcnow())
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Unprocessable(f"a password needs at least {MIN_PASSWORD} characters")

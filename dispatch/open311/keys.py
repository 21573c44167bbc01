"""Open311 API keys: issued per client by an operator, stored hashed, revocable.

Each client gets a service account (role ``worker``, no beat, no password anyone can
use) that is the reporter of everything it files: its requests are traceable to it, and
intake's idempotency keys are scoped to it like a phone's are to its grid worker.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from dispatch.auth.models import User
from dispatch.auth.principal import Principal
from dispatch.auth.service import principal_of, token_hash
from dispatch.db import transaction
from dispatch.dbtypes import utcnow
from dispatch.enums import Role
from dispatch.errors import BadRequest, Conflict, NotFound
from dispatch.open311.models import Open311Key

CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,47}")
USERNAME_PREFIX = "open311-"
#: not an Argon2 hash, so no password ever signs the service account in
NO_PASSWORD = "!open311-service-account"
PREFIX_CHARS = 6


@dataclass(frozen=True)
class KeyInfo:
    client: str
    username: str
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None


def create_key(engine: Engine, client: str) -> str:
    """A new key for ``client`` (its service account is made on first use); shown only once."""
    if not CLIENT_NAME.fullmatch(client):
        raise BadRequest("a client name is 1–48 letters, digits, _ . - (starting with one)")
    key = secrets.token_urlsafe(32)
    username = USERNAME_PREFIX + client
    with transaction(engine) as s:
        user = s.execute(select(User).where(col(User.username) == username)).scalars().first()
        if user is None:
            user = User(
                username=username,
                password_hash=NO_PASSWORD,
                role=Role.worker,
                display_name=f"Open311: {client}",
            )
            s.add(user)
            s.flush()
        elif user.password_hash != NO_PASSWORD:
            raise Conflict(f"{username} is a person's account, not an Open311 service account")
        assert user.id is not None
        s.add(
            Open311Key(
                client=client,
                user_id=user.id,
                key_hash=token_hash(key),
                key_prefix=key[:PREFIX_CHARS],
            )
        )
    return key


def revoke_keys(engine: Engine, client: str) -> int:
    """Revoke every live key of ``client``; how many were live (NotFound when none)."""
    with transaction(engine) as s:
        done = s.exec(
            update(Open311Key)
            .where(col(Open311Key.client) == client, col(Open311Key.revoked_at).is_(None))
            .values(revoked_at=utcnow())
        ).rowcount
    if not done:
        raise NotFound(f"client {client!r} has no live key")
    return int(done)


def list_keys(engine: Engine) -> list[KeyInfo]:
    with Session(engine) as s:
        rows = s.execute(
            select(Open311Key, col(User.username))
            .join(User, col(User.id) == col(Open311Key.user_id))
            .order_by(col(Open311Key.client), col(Open311Key.id))
        ).all()
    return [KeyInfo(k.client, name, k.key_prefix, k.created_at, k.revoked_at) for k, name in rows]


def principal_for_key(engine: Engine, key: str) -> Principal | None:
    """The service account behind a live key; None for an unknown or revoked one."""
    with Session(engine) as s:
        user = (
            s.execute(
                select(User)
                .join(Open311Key, col(Open311Key.user_id) == col(User.id))
                .where(
                    col(Open311Key.key_hash) == token_hash(key),
                    col(Open311Key.revoked_at).is_(None),
                    col(User.active),
                )
            )
            .scalars()
            .first()
        )
    return principal_of(user) if user else None


def client_name(principal: Principal) -> str:
    return principal.username.removeprefix(USERNAME_PREFIX)

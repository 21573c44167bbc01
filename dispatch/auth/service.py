"""Passwords (Argon2), opaque bearer tokens stored hashed, and a short principal cache."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from dispatch.auth.models import AuthSession, User
from dispatch.auth.principal import Principal
from dispatch.db import transaction
from dispatch.dbtypes import utcnow
from dispatch.errors import Unauthenticated

_hasher = PasswordHasher()
#: a revoked token is refused by other processes within this many seconds
CACHE_TTL_S = 10.0


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _principal(user: User) -> Principal:
    assert user.id is not None
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        unit_id=user.unit_id,
        team_id=user.team_id,
        area_prefix=user.area_prefix,
    )


class AuthService:
    """Issues and checks tokens; every process keeps a few seconds' cache of valid tokens."""

    def __init__(self, engine: Engine, read_engine: Engine, ttl_minutes: int) -> None:
        self.engine = engine
        self.read_engine = read_engine
        self.ttl = timedelta(minutes=ttl_minutes)
        self._cache: dict[str, tuple[Principal, float, float]] = {}
        self._lock = threading.Lock()

    def login(self, username: str, password: str) -> tuple[str, Principal, int]:
        """A new token for valid credentials; the same error whether user or password is wrong."""
        user = None
        if "\x00" not in username:  # no user has one, and PostgreSQL refuses it in a query
            with Session(self.read_engine) as s:
                query = select(User).where(col(User.username) == username)
                user = s.execute(query).scalars().first()
        # verify against a dummy hash for unknown users, so timing does not reveal them
        ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
        if not (user and ok and user.active):
            raise Unauthenticated("wrong username or password")
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with transaction(self.engine) as s:
            assert user.id is not None
            s.add(
                AuthSession(
                    token_hash=token_hash(token),
                    user_id=user.id,
                    created_at=now,
                    expires_at=now + self.ttl,
                )
            )
        return token, _principal(user), int(self.ttl.total_seconds())

    def cached(self, token: str) -> Principal | None:
        """The principal if this process checked the token within the last few seconds."""
        hit = self._cache.get(token_hash(token))
        if hit and hit[1] > time.monotonic() and hit[2] > time.time():
            return hit[0]
        return None

    def principal(self, token: str) -> Principal:
        key = token_hash(token)
        now = time.monotonic()
        hit = self.cached(token)
        if hit is not None:
            return hit
        with Session(self.read_engine) as s:
            row = s.execute(
                select(User, col(AuthSession.expires_at))
                .join(AuthSession, col(AuthSession.user_id) == col(User.id))
                .where(col(AuthSession.token_hash) == key, col(AuthSession.revoked_at).is_(None))
            ).first()
        if row is None or row[1] <= utcnow() or not row[0].active:
            with self._lock:
                self._cache.pop(key, None)
            raise Unauthenticated("token expired or revoked: sign in again")
        p = _principal(row[0])
        with self._lock:
            self._cache[key] = (p, now + CACHE_TTL_S, row[1].timestamp())
        return p

    def valid_hashes(self, hashes: set[str]) -> set[str]:
        """Which of these token hashes still work (not revoked, not expired, user active)."""
        if not hashes:
            return set()
        with Session(self.read_engine) as s:
            rows = s.execute(
                select(col(AuthSession.token_hash))
                .join(User, col(AuthSession.user_id) == col(User.id))
                .where(
                    col(AuthSession.token_hash).in_(sorted(hashes)),
                    col(AuthSession.revoked_at).is_(None),
                    col(AuthSession.expires_at) > utcnow(),
                    col(User.active),
                )
            )
            return {r[0] for r in rows}

    def logout(self, token: str) -> None:
        key = token_hash(token)
        with transaction(self.engine) as s:
            s.execute(
                update(AuthSession)
                .where(col(AuthSession.token_hash) == key)
                .values(revoked_at=utcnow())
            )
        with self._lock:
            self._cache.pop(key, None)


_DUMMY_HASH = _hasher.hash(secrets.token_hex(8))

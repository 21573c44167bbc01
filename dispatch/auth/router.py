"""Sign in (OAuth2 password flow), sign out, who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from dispatch.auth.principal import Principal
from dispatch.auth.service import token_hash
from dispatch.deps import PrincipalDep, StateDep, oauth2

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user: MeOut


class MeOut(BaseModel):
    id: int
    username: str
    role: str
    unit_id: str | None
    team_id: str | None
    area_prefix: str | None


@router.post("/token", response_model=TokenOut)
async def token(state: StateDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    tok, p, ttl = await run_in_threadpool(state.auth.login, form.username, form.password)
    return TokenOut(access_token=tok, expires_in=ttl, user=_me(p))


@router.post("/logout", status_code=204)
async def logout(
    state: StateDep, principal: PrincipalDep, tok: Annotated[str, Depends(oauth2)]
) -> None:
    await run_in_threadpool(state.auth.logout, tok)
    await state.feed.revoke(token_hash(tok))  # its live-feed sockets close, in every process


@router.get("/me", response_model=MeOut)
def me(principal: PrincipalDep) -> MeOut:
    return _me(principal)


def _me(p: Principal) -> MeOut:
    return MeOut(
        id=p.user_id,
        username=p.username,
        role=p.role.value,
        unit_id=p.unit_id,
        team_id=p.team_id,
        area_prefix=p.area_prefix,
    )

"""FastAPI dependencies: the app's state (engine, settings, grid) and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine

from dispatch.auth.principal import Principal
from dispatch.config import Settings
from dispatch.errors import Unauthenticated
from dispatch.ops.logs import note_user
from dispatch.state import AppState

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


# async on purpose: FastAPI runs a plain ``def`` dependency in the threadpool, a thread hop
# per request for what is an attribute read or a cache hit


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.gd
    return state


async def get_engine(request: Request) -> Engine:
    return (await get_state(request)).db.engine


async def get_settings(request: Request) -> Settings:
    return (await get_state(request)).settings


async def get_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2)]
) -> Principal:
    if not token:
        raise Unauthenticated("sign in: send 'Authorization: Bearer <token>'")
    auth = (await get_state(request)).auth
    principal = auth.cached(token)
    if principal is None:
        principal = await run_in_threadpool(auth.principal, token)
    note_user(principal.user_id)
    return principal


StateDep = Annotated[AppState, Depends(get_state)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]

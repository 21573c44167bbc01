"""FastAPI dependencies: the app's state (engine, settings, grid) and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine

from dispatch.auth.principal import Principal
from dispatch.config import Settings
from dispatch.errors import Unauthenticated
from dispatch.state import AppState

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.gd
    return state


def get_engine(request: Request) -> Engine:
    return get_state(request).db.engine


def get_settings(request: Request) -> Settings:
    return get_state(request).settings


def get_principal(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    if not token:
        raise Unauthenticated("sign in: send 'Authorization: Bearer <token>'")
    return get_state(request).auth.principal(token)


StateDep = Annotated[AppState, Depends(get_state)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]

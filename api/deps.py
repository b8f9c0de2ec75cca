"""Dependencies as Annotated aliases, so route signatures read like sentences."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from citysense.settings import ApiSettings
from citysense.timeseries import TimeSeriesStore

__all__ = ["OperatorDep", "SessionsDep", "SettingsDep", "StoreDep"]


def _store(request: Request) -> TimeSeriesStore:
    store: TimeSeriesStore = request.app.state.store
    return store


def _sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


StoreDep = Annotated[TimeSeriesStore, Depends(_store)]
SessionsDep = Annotated[sessionmaker[Session], Depends(_sessions)]
SettingsDep = Annotated[ApiSettings, Depends(_settings)]

_bearer = HTTPBearer(auto_error=False)


def _operator(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """With an operator token configured, /api/v1 needs it; scoped keys replace this later."""
    expected = settings.operator_token
    if not expected:
        return
    if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="operator API needs 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


OperatorDep = Depends(_operator)

"""Dependencies as Annotated aliases, so route signatures read like sentences."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.geo import City
from citysense.keys import SCOPES, Principal, verify_key
from citysense.settings import ApiSettings
from citysense.timeseries import TimeSeriesStore

__all__ = [
    "CityDep",
    "OperatorDep",
    "PrincipalDep",
    "SessionsDep",
    "SettingsDep",
    "StoreDep",
    "require",
]


def _store(request: Request) -> TimeSeriesStore:
    store: TimeSeriesStore = request.app.state.store
    return store


def _sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def _city(request: Request) -> City:
    city: City = request.app.state.city
    return city


StoreDep = Annotated[TimeSeriesStore, Depends(_store)]
SessionsDep = Annotated[sessionmaker[Session], Depends(_sessions)]
SettingsDep = Annotated[ApiSettings, Depends(_settings)]
CityDep = Annotated[City, Depends(_city)]

_bearer = HTTPBearer(auto_error=False, description="an API key from `citysense keys create`, or the operator token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key from `citysense keys create`")

_UNAUTHORIZED_DETAIL = (
    "operator API needs 'Authorization: Bearer <key>' (or 'X-API-Key: <key>'); create one with `citysense keys create`"
)


def _principal(
    settings: SettingsDep,
    sessions: SessionsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header_key: Annotated[str | None, Security(_api_key)],
) -> Principal:
    """Who is calling: a key from the database, or the configured operator token (every scope)."""
    presented = credentials.credentials if credentials is not None else header_key
    if presented:
        token = settings.operator_token
        if token and hmac.compare_digest(presented.encode(), token.encode()):
            return Principal(name="operator-token", scopes=frozenset(SCOPES))
        principal = verify_key(sessions, presented)
        if principal is not None:
            return principal
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=_UNAUTHORIZED_DETAIL, headers={"WWW-Authenticate": "Bearer"}
    )


PrincipalDep = Annotated[Principal, Depends(_principal)]

# Every /api/v1 route needs a valid credential; `require(scope)` then checks what it may do.
OperatorDep = Depends(_principal)


def require(scope: str) -> Any:
    """A dependency that answers 403 unless the caller's key carries `scope`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def check(principal: PrincipalDep) -> Principal:
        if not principal.allows(scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this key lacks the '{scope}' scope (it has: {', '.join(sorted(principal.scopes)) or 'none'})",
            )
        return principal

    check.__name__ = f"require_{scope.replace(':', '_')}"
    return Depends(check)

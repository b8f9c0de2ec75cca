"""Scoped API keys for the operator API, hashed at rest, and the `citysense keys` commands.

A key looks like `cs_<prefix>_<secret>`. The database keeps the prefix (to find the row) and a
SHA-256 of the whole key: the secret is 256 random bits, so a fast hash is as safe as a slow one
and keeps every authenticated request cheap. The full key is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "AGENCIES",
    "SCOPES",
    "ApiKeyError",
    "CreatedKey",
    "Principal",
    "audit",
    "create_key",
    "keys_app",
    "revoke_key",
    "verify_key",
]

SCOPES: dict[str, str] = {
    "devices:read": "devices with health and last seen",
    "readings:read": "readings by range and bucket",
    "anomalies:read": "anomalies found by analytics",
    "tickets:read": "the ticket queue and each ticket's audit trail",
    "tickets:write": "acknowledge, assign, comment, resolve and reopen tickets",
    "webhooks:manage": "subscribe other systems to ticket events",
    "audit:read": "the audit log",
    "open311:submit": "post Open311 service requests when CITYSENSE_OPEN311_REQUIRE_KEY=true",
}

# The city's agencies; each ticket belongs to the one responsible for its service code.
AGENCIES: dict[str, str] = {
    "water": "Water resources and drainage",
    "environment": "Environment (air and noise)",
    "sanitation": "Sanitation and waste",
    "public_works": "Public works (roads, lights, sensors)",
}

_PREFIX_BYTES = 6


class ApiKeyError(ValueError):
    """A key request that cannot be honoured (unknown scope or agency)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the operator API: a name for the audit log, scopes, an optional agency."""

    name: str
    scopes: frozenset[str]
    agency: str | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True, slots=True)
class CreatedKey:
    id: int
    key: str
    name: str
    scopes: tuple[str, ...]
    agency: str | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    sessions: sessionmaker[Session], *, name: str, scopes: list[str], agency: str | None = None, actor: str = "cli"
) -> CreatedKey:
    """A new key with these scopes; the returned `key` is the only time the secret exists in clear."""
    from citysense.db.models import ApiKey

    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ApiKeyError(f"unknown scope(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(SCOPES)}")
    if agency is not None and agency not in AGENCIES:
        raise ApiKeyError(f"unknown agency {agency!r}; known: {', '.join(AGENCIES)}")
    prefix = secrets.token_hex(_PREFIX_BYTES)
    key = f"cs_{prefix}_{secrets.token_urlsafe(32)}"
    ordered = tuple(s for s in SCOPES if s in scopes)
    with sessions.begin() as session:
        row = ApiKey(prefix=prefix, secret_hash=_hash(key), name=name, scopes=list(ordered), agency=agency)
        session.add(row)
        session.flush()
        audit(session, actor, "key.create", "api_key", str(row.id), {"name": name, "scopes": list(ordered)})
        key_id = row.id
    return CreatedKey(key_id, key, name, ordered, agency)


def verify_key(sessions: sessionmaker[Session], key: str) -> Principal | None:
    """The principal for a presented key, or None when it is unknown, malformed or revoked."""
    from sqlalchemy import select

    from citysense.db.models import ApiKey

    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "cs" or len(parts[1]) != 2 * _PREFIX_BYTES:
        return None
    with sessions() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.prefix == parts[1])).one_or_none()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_hash, _hash(key)):
        return None
    return Principal(name=f"key:{row.id}:{row.name}", scopes=frozenset(row.scopes), agency=row.agency)


def revoke_key(sessions: sessionmaker[Session], key_id: int, *, actor: str = "cli") -> bool:
    from citysense.db.models import ApiKey

    with sessions.begin() as session:
        row = session.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = datetime.now(UTC)
        audit(session, actor, "key.revoke", "api_key", str(key_id), {"name": row.name})
    return True


def audit(
    session: Session, actor: str, action: str, target_type: str, target_id: str, details: dict[str, object]
) -> None:
    """Record who did what to which thing, in the caller's transaction (so both land or neither)."""
    from citysense.db.models import AuditEntry

    session.add(AuditEntry(actor=actor, action=action, target_type=target_type, target_id=target_id, details=details))


keys_app = typer.Typer(
    help="Operator API keys: create (shown once, stored hashed), list, revoke.", no_args_is_help=True
)


def _sessions() -> sessionmaker[Session]:
    from citysense.db import connect
    from citysense.settings import CommonSettings

    return connect(CommonSettings().tickets_url)


@keys_app.command("create")
def create_command(
    scope: Annotated[
        list[str],
        typer.Option(help=f"a scope to grant; repeat for more. Known: {', '.join(SCOPES)}"),
    ],
    name: Annotated[str, typer.Option(help="who or what uses the key, for the audit log")] = "operator",
    agency: Annotated[
        str | None, typer.Option(help=f"limit the key to one agency's tickets: {', '.join(AGENCIES)}")
    ] = None,
) -> None:
    """Create a key and print it once; use it as `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    try:
        created = create_key(_sessions(), name=name, scopes=scope, agency=agency)
    except ApiKeyError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
    typer.echo(created.key)
    limited = f", agency {created.agency}" if created.agency else ""
    typer.echo(f"key {created.id} ({created.name}): {' '.join(created.scopes)}{limited}", err=True)
    typer.echo("store it now: only its hash is kept", err=True)


@keys_app.command("list")
def list_command() -> None:
    """Keys with their scopes; secrets cannot be shown (only hashes are kept)."""
    from sqlalchemy import select

    from citysense.db.models import ApiKey

    with _sessions()() as session:
        for row in session.scalars(select(ApiKey).order_by(ApiKey.id)):
            state = "revoked" if row.revoked_at else "active"
            agency = row.agency or "all agencies"
            typer.echo(f"{row.id}\t{state}\t{row.name}\t{agency}\t{' '.join(row.scopes)}")


@keys_app.command("revoke")
def revoke_command(key_id: Annotated[int, typer.Argument(help="the key's number, from `citysense keys list`")]) -> None:
    """Revoke a key at once; requests with it get 401 from then on."""
    if not revoke_key(_sessions(), key_id):
        typer.secho(f"error: no active key {key_id}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    typer.echo(f"key {key_id} revoked")

"""Console sign-in: sessions in the database behind a random cookie, CSRF tokens, throttled logins.

The cookie holds 256 random bits; the database keeps only their SHA-256 (as for API keys), the
session's CSRF token, and who signed in: a user (citysense.users) or an API key. Every request
re-reads the user or key, so disabling a user or revoking a key ends its sessions at once. The
cookie is HttpOnly, SameSite=Strict and Secure (a setting turns Secure off for plain-HTTP
development); every form that changes something carries the session's CSRF token as well.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from citysense.db.models import ApiKey, ConsoleSession, User
from citysense.keys import Principal, audit, verify_key
from citysense.users import ROLES, LoginRefusedError, authenticate, principal_of

__all__ = [
    "COOKIE",
    "ClientThrottle",
    "ConsoleLogin",
    "end_session",
    "resolve_session",
    "sign_in_with_key",
    "sign_in_with_password",
]

COOKIE = "citysense_console"
SESSION_TTL = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class ConsoleLogin:
    """A signed-in console session: who, what they may do, and the token their forms must carry."""

    principal: Principal
    csrf_token: str
    role: str  # viewer, operator, admin, or "key" for an API key

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf_token.encode())


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _open(sessions: sessionmaker[Session], *, user_id: int | None, api_key_id: int | None, actor: str) -> str:
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
        session.add(
            ConsoleSession(
                token_hash=_hash(token),
                csrf_token=secrets.token_urlsafe(32),
                user_id=user_id,
                api_key_id=api_key_id,
                created_at=now,
                expires_at=now + SESSION_TTL,
            )
        )
        audit(session, actor, "console.sign_in", "console_session", "-", {})
    return token


def sign_in_with_password(sessions: sessionmaker[Session], username: str, password: str) -> str:
    """A new session's cookie token for a user; raises LoginRefusedError."""
    user = authenticate(sessions, username, password)
    return _open(sessions, user_id=user.id, api_key_id=None, actor=f"user:{user.username}")


def sign_in_with_key(sessions: sessionmaker[Session], key: str) -> str:
    """A new session's cookie token for an API key; raises LoginRefusedError."""
    principal = verify_key(sessions, key)
    if principal is None:
        raise LoginRefusedError("that API key is unknown or revoked")
    key_id = int(principal.name.split(":", 2)[1])
    return _open(sessions, user_id=None, api_key_id=key_id, actor=principal.name)


def resolve_session(sessions: sessionmaker[Session], token: str | None) -> ConsoleLogin | None:
    """The login behind a cookie, or None when it is unknown, expired, or its user or key is gone."""
    if not token or len(token) > 100:
        return None
    now = datetime.now(UTC)
    with sessions() as session:
        row = session.scalars(select(ConsoleSession).where(ConsoleSession.token_hash == _hash(token))).one_or_none()
        if row is None or row.expires_at <= now:
            return None
        if row.user_id is not None:
            user = session.get(User, row.user_id)
            if user is None or user.disabled_at is not None or user.role not in ROLES:
                return None
            return ConsoleLogin(principal_of(user), row.csrf_token, user.role)
        key = session.get(ApiKey, row.api_key_id) if row.api_key_id is not None else None
        if key is None or key.revoked_at is not None:
            return None
        principal = Principal(name=f"key:{key.id}:{key.name}", scopes=frozenset(key.scopes), agency=key.agency)
        return ConsoleLogin(principal, row.csrf_token, "key")


def end_session(sessions: sessionmaker[Session], token: str, *, actor: str) -> None:
    with sessions.begin() as session:
        session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _hash(token)))
        audit(session, actor, "console.sign_out", "console_session", "-", {})


class ClientThrottle:
    """Failed sign-ins per client address: a token bucket, so one address cannot try many accounts fast.

    Per process; the per-account lock in citysense.users holds across processes.
    """

    def __init__(self, *, burst: int = 10, per_s: float = 0.2) -> None:
        self._burst, self._per_s = burst, per_s
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def retry_after(self, client: str) -> int:
        """0 when this client may try again now, else seconds to wait."""
        with self._lock:
            tokens, _ = self._refill(client)
            return 0 if tokens >= 1 else int((1 - tokens) / self._per_s) + 1

    def failed(self, client: str) -> None:
        with self._lock:
            tokens, now = self._refill(client)
            self._buckets[client] = (tokens - 1, now)
            if len(self._buckets) > 10_000:  # forget the fullest buckets first
                for stale in [k for k, (t, _) in self._buckets.items() if t >= self._burst - 1][:5000]:
                    del self._buckets[stale]

    def _refill(self, client: str) -> tuple[float, float]:
        now = time.monotonic()
        tokens, then = self._buckets.get(client, (float(self._burst), now))
        return min(float(self._burst), tokens + (now - then) * self._per_s), now

"""Operator accounts for the console: roles mapped to API scopes, argon2 passwords, login throttling.

A role is a named set of the API key scopes (citysense.keys.SCOPES), so the console and the
operator API decide what someone may do in one way. A user limited to an agency sees only that
agency's tickets, as an agency key does. Passwords are kept as argon2id hashes (memory-hard: a
stolen table is slow to guess from). After a few failed logins in a row an account is locked for
a while that doubles with each further failure, so guessing online is slow too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from citysense.keys import AGENCIES, SCOPES, Principal

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from citysense.db.models import User

__all__ = [
    "ROLES",
    "AccountUser",
    "LoginRefusedError",
    "UserError",
    "add_user",
    "authenticate",
    "disable_user",
    "list_users",
    "principal_of",
    "users_app",
]

_READ = ("devices:read", "readings:read", "anomalies:read", "tickets:read")
ROLES: dict[str, tuple[str, ...]] = {
    "viewer": _READ,
    "operator": (*_READ, "tickets:write"),
    "admin": tuple(SCOPES),
}

MIN_PASSWORD = 12
FREE_FAILURES = 5  # failures in a row before the account locks
BASE_LOCK = timedelta(seconds=30)
MAX_LOCK = timedelta(minutes=15)


class UserError(ValueError):
    """An account request that cannot be honoured (unknown role or agency, weak password, taken name)."""


class LoginRefusedError(Exception):
    """Wrong name or password, a disabled account, or one locked by throttling (`retry_after_s` > 0)."""

    def __init__(self, message: str, *, retry_after_s: int = 0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class AccountUser:
    id: int
    username: str
    role: str
    agency: str | None
    disabled: bool
    last_login_at: datetime | None


def principal_of(user: AccountUser | User) -> Principal:
    """What a user may do: the scopes of the role, limited to the agency if any."""
    return Principal(name=f"user:{user.username}", scopes=frozenset(ROLES[user.role]), agency=user.agency)


def _plain(row: User) -> AccountUser:
    return AccountUser(row.id, row.username, row.role, row.agency, row.disabled_at is not None, row.last_login_at)


def add_user(
    sessions: sessionmaker[Session],
    *,
    username: str,
    password: str,
    role: str,
    agency: str | None = None,
    actor: str = "cli",
) -> AccountUser:
    """Create an account; the password is hashed with argon2id and never stored."""
    from argon2 import PasswordHasher
    from sqlalchemy import select

    from citysense.db.models import User
    from citysense.keys import audit

    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    if agency is not None and agency not in AGENCIES:
        raise UserError(f"unknown agency {agency!r}; known: {', '.join(AGENCIES)}")
    if not username or len(username) > 64 or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise UserError("a username is 1-64 letters, digits, '.', '-' or '_'")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    with sessions.begin() as session:
        if session.scalars(select(User.id).where(User.username == username)).first() is not None:
            raise UserError(f"there is already a user {username!r}")
        row = User(
            username=username, password_hash=PasswordHasher().hash(password), role=role, agency=agency, failed_logins=0
        )
        session.add(row)
        session.flush()
        audit(session, actor, "user.add", "user", str(row.id), {"username": username, "role": role, "agency": agency})
        return _plain(row)


def list_users(sessions: sessionmaker[Session]) -> list[AccountUser]:
    from sqlalchemy import select

    from citysense.db.models import User

    with sessions() as session:
        return [_plain(row) for row in session.scalars(select(User).order_by(User.username))]


def disable_user(sessions: sessionmaker[Session], username: str, *, actor: str = "cli") -> AccountUser:
    """Disable an account at once: its console sessions end and it can no longer sign in."""
    from sqlalchemy import delete, select

    from citysense.db.models import ConsoleSession, User
    from citysense.keys import audit

    with sessions.begin() as session:
        row = session.scalars(select(User).where(User.username == username)).one_or_none()
        if row is None:
            raise UserError(f"no user {username!r}")
        if row.disabled_at is not None:
            raise UserError(f"user {username!r} is already disabled")
        row.disabled_at = datetime.now(UTC)
        session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == row.id))
        audit(session, actor, "user.disable", "user", str(row.id), {"username": username})
        return _plain(row)


def authenticate(
    sessions: sessionmaker[Session], username: str, password: str, *, now: datetime | None = None
) -> AccountUser:
    """The user, if the password is right and the account neither disabled nor locked; else raise.

    Unknown names cost a hash too, so timing does not tell which names exist.
    """
    from argon2 import PasswordHasher
    from argon2.exceptions import VerificationError, VerifyMismatchError
    from sqlalchemy import select

    from citysense.db.models import User
    from citysense.keys import audit

    moment = now or datetime.now(UTC)
    hasher = PasswordHasher()
    refused = LoginRefusedError("wrong username or password")
    with sessions.begin() as session:
        row = session.scalars(select(User).where(User.username == username)).one_or_none()
        if row is None:
            hasher.hash(password)
            raise refused
        if row.locked_until is not None and row.locked_until > moment:
            wait = int((row.locked_until - moment).total_seconds()) + 1
            raise LoginRefusedError(f"too many failed logins: try again in {wait} s", retry_after_s=wait)
        try:
            hasher.verify(row.password_hash, password)
        except (VerifyMismatchError, VerificationError):
            row.failed_logins += 1
            if row.failed_logins >= FREE_FAILURES:
                lock = min(BASE_LOCK * 2 ** (row.failed_logins - FREE_FAILURES), MAX_LOCK)
                row.locked_until = moment + lock
            audit(
                session, f"user:{username}", "user.login_failed", "user", str(row.id), {"failures": row.failed_logins}
            )
        else:
            if row.disabled_at is not None:
                raise LoginRefusedError("this account is disabled")
            row.failed_logins = 0
            row.locked_until = None
            row.last_login_at = moment
            if hasher.check_needs_rehash(row.password_hash):
                row.password_hash = hasher.hash(password)
            audit(session, f"user:{username}", "user.login", "user", str(row.id), {})
            return _plain(row)
    raise refused  # after the commit, so the failure count sticks


users_app = typer.Typer(help="Operator accounts for the console: add, list, disable.", no_args_is_help=True)


def _sessions() -> sessionmaker[Session]:
    from citysense.db import connect
    from citysense.settings import CommonSettings

    return connect(CommonSettings().tickets_url)


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@users_app.command("add")
def add_command(
    username: Annotated[str, typer.Argument(help="the sign-in name")],
    role: Annotated[str, typer.Option(help=f"one of {', '.join(ROLES)}")] = "operator",
    agency: Annotated[str | None, typer.Option(help=f"limit to one agency's tickets: {', '.join(AGENCIES)}")] = None,
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            confirmation_prompt=True,
            hide_input=True,
            envvar="CITYSENSE_NEW_USER_PASSWORD",
            help=f"at least {MIN_PASSWORD} characters; asked for when not given",
        ),
    ] = "",
) -> None:
    """Create an operator account for the console."""
    try:
        user = add_user(_sessions(), username=username, password=password, role=role, agency=agency)
    except UserError as exc:
        raise _fail(exc) from None
    typer.echo(f"user {user.username} ({user.role}, {user.agency or 'all agencies'}) added")


@users_app.command("list")
def list_command() -> None:
    """Accounts: name, role, agency, state, last sign-in (tab-separated)."""
    for user in list_users(_sessions()):
        state = "disabled" if user.disabled else "active"
        last = f"{user.last_login_at:%Y-%m-%dT%H:%MZ}" if user.last_login_at else "never"
        typer.echo(f"{user.username}\t{user.role}\t{user.agency or 'all agencies'}\t{state}\t{last}")


@users_app.command("disable")
def disable_command(username: Annotated[str, typer.Argument(help="the account to disable")]) -> None:
    """Disable an account: it is signed out everywhere and cannot sign in again."""
    try:
        disable_user(_sessions(), username)
    except UserError as exc:
        raise _fail(exc) from None
    typer.echo(f"user {username} disabled")

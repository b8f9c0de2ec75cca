"""Operator accounts: `citysense users add|list|disable`, argon2 hashes, roles as scopes, login throttling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from citysense.db import connect
from citysense.db.models import AuditEntry, User
from citysense.users import (
    FREE_FAILURES,
    LoginRefusedError,
    UserError,
    add_user,
    authenticate,
    disable_user,
    principal_of,
)
from launcher.cli import app as cli

PASSWORD = "correct horse battery"


def test_the_cli_adds_lists_and_disables_users(tickets_url, monkeypatch):
    monkeypatch.setenv("CITYSENSE_TICKETS_URL", tickets_url)
    runner = CliRunner()
    added = runner.invoke(
        cli, ["users", "add", "ana", "--role", "operator", "--agency", "water"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert added.exit_code == 0, added.output
    assert "user ana (operator, water) added" in added.output
    listed = runner.invoke(cli, ["users", "list"])
    assert "ana\toperator\twater\tactive\tnever" in listed.output
    assert runner.invoke(cli, ["users", "disable", "ana"]).exit_code == 0
    assert "ana\toperator\twater\tdisabled" in runner.invoke(cli, ["users", "list"]).output
    again = runner.invoke(cli, ["users", "disable", "ana"])
    assert again.exit_code == 1
    assert "already disabled" in again.output
    weak = runner.invoke(cli, ["users", "add", "bo", "--role", "viewer"], input="short\nshort\n")
    assert weak.exit_code == 1
    assert "at least 12 characters" in weak.output
    role = runner.invoke(cli, ["users", "add", "bo", "--role", "root"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert role.exit_code == 1
    assert "unknown role 'root'" in role.output


def test_passwords_are_kept_as_argon2_hashes_and_roles_map_to_scopes(tickets_url):
    sessions = connect(tickets_url)
    add_user(sessions, username="ana", password=PASSWORD, role="viewer")
    add_user(sessions, username="admin", password=PASSWORD, role="admin")
    with sessions() as session:
        stored = session.scalars(select(User.password_hash).where(User.username == "ana")).one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    viewer = principal_of(authenticate(sessions, "ana", PASSWORD))
    assert viewer.allows("tickets:read")
    assert not viewer.allows("tickets:write")
    admin = principal_of(authenticate(sessions, "admin", PASSWORD))
    assert admin.allows("webhooks:manage")
    assert admin.allows("audit:read")
    with pytest.raises(UserError, match="already a user"):
        add_user(sessions, username="ana", password=PASSWORD, role="viewer")


def test_failed_logins_lock_the_account_for_longer_each_time(tickets_url):
    sessions = connect(tickets_url)
    add_user(sessions, username="ana", password=PASSWORD, role="operator")
    now = datetime.now(UTC)
    for _ in range(FREE_FAILURES - 1):
        with pytest.raises(LoginRefusedError) as refused:
            authenticate(sessions, "ana", "guess guess guess", now=now)
        assert refused.value.retry_after_s == 0
    with pytest.raises(LoginRefusedError):
        authenticate(sessions, "ana", "guess guess guess", now=now)  # the fifth failure locks it
    with pytest.raises(LoginRefusedError, match="too many failed logins") as locked:
        authenticate(sessions, "ana", PASSWORD, now=now)  # even the right password waits
    assert 0 < locked.value.retry_after_s <= 31
    later = now + timedelta(seconds=31)
    with pytest.raises(LoginRefusedError):
        authenticate(sessions, "ana", "guess guess guess", now=later)
    with pytest.raises(LoginRefusedError, match="too many") as longer:
        authenticate(sessions, "ana", PASSWORD, now=later)
    assert longer.value.retry_after_s > 31  # the lock doubled
    assert authenticate(sessions, "ana", PASSWORD, now=later + timedelta(minutes=2)).username == "ana"
    with sessions() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "user")).all()
    assert actions.count("user.login_failed") == FREE_FAILURES + 1
    assert actions[-1] == "user.login"


def test_a_disabled_user_or_unknown_name_cannot_sign_in(tickets_url):
    sessions = connect(tickets_url)
    add_user(sessions, username="ana", password=PASSWORD, role="operator")
    disable_user(sessions, "ana")
    with pytest.raises(LoginRefusedError, match="disabled"):
        authenticate(sessions, "ana", PASSWORD)
    with pytest.raises(LoginRefusedError, match="wrong username or password"):
        authenticate(sessions, "nobody", PASSWORD)

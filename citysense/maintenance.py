"""Planning maintenance windows: add, list and end them, each change audited, and `citysense maintenance`.

Analytics reads the windows (analytics.maintenance) and holds back tickets for what they cover;
this module is how operators plan them, from the CLI, the operator API or the console. Ending a
window that is running cuts it short at once; ending one that has not started cancels it (it
then covers nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from citysense.db.models import MaintenanceWindow

__all__ = [
    "MaintenanceError",
    "PlannedWindow",
    "WindowNotFoundError",
    "end_window",
    "get_window",
    "list_windows",
    "maintenance_app",
    "plan_window",
]


class MaintenanceError(ValueError):
    """A window that cannot be planned or ended as asked (the API answers 4xx)."""


class WindowNotFoundError(MaintenanceError):
    """No such window."""


@dataclass(frozen=True, slots=True)
class PlannedWindow:
    """A window as operators see it."""

    id: int
    district: str | None
    device_id: str | None
    service_code: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime

    def state(self, now: datetime) -> str:
        """scheduled, active or ended (ended also covers a window cancelled before it began)."""
        if self.ends_at <= now or self.ends_at <= self.starts_at:
            return "ended"
        return "active" if self.starts_at <= now else "scheduled"


def _plain(row: MaintenanceWindow) -> PlannedWindow:
    return PlannedWindow(
        row.id,
        row.district,
        row.device_id,
        row.service_code,
        row.starts_at,
        row.ends_at,
        row.reason,
        row.created_by,
        row.created_at,
    )


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise MaintenanceError(f"{name} needs a time zone (e.g. 2026-12-01T08:00:00Z)")
    return moment.astimezone(UTC)


def plan_window(
    sessions: sessionmaker[Session],
    *,
    starts_at: datetime,
    ends_at: datetime,
    district: str | None = None,
    device_id: str | None = None,
    service_code: str | None = None,
    reason: str = "",
    actor: str = "cli",
) -> PlannedWindow:
    """Plan a window and audit it; refuses one that ends before it starts or has already ended."""
    from citysense.db.models import MaintenanceWindow
    from citysense.keys import audit

    start, end = _aware(starts_at, "starts_at"), _aware(ends_at, "ends_at")
    if end <= start:
        raise MaintenanceError("a maintenance window must end after it starts")
    if end <= datetime.now(UTC):
        raise MaintenanceError("that window has already ended; plan one that ends in the future")
    with sessions.begin() as session:
        row = MaintenanceWindow(
            district=district or None,
            device_id=device_id or None,
            service_code=service_code or None,
            starts_at=start,
            ends_at=end,
            reason=reason,
            created_by=actor,
        )
        session.add(row)
        session.flush()
        details: dict[str, object] = {
            "district": row.district,
            "device_id": row.device_id,
            "service_code": row.service_code,
            "starts_at": start.isoformat(),
            "ends_at": end.isoformat(),
            "reason": reason,
        }
        audit(session, actor, "maintenance.add", "maintenance_window", str(row.id), details)
        return _plain(row)


def list_windows(
    sessions: sessionmaker[Session], *, include_ended: bool = False, now: datetime | None = None, limit: int = 500
) -> list[PlannedWindow]:
    """Windows that still cover something (or all, newest first, with `include_ended`)."""
    from sqlalchemy import select

    from citysense.db.models import MaintenanceWindow

    moment = now or datetime.now(UTC)
    query = select(MaintenanceWindow)
    if include_ended:
        query = query.order_by(MaintenanceWindow.starts_at.desc(), MaintenanceWindow.id.desc())
    else:
        query = query.where(MaintenanceWindow.ends_at > moment).order_by(
            MaintenanceWindow.starts_at, MaintenanceWindow.id
        )
    with sessions() as session:
        rows = session.scalars(query.limit(limit)).all()
    found = [_plain(r) for r in rows]
    return found if include_ended else [w for w in found if w.state(moment) != "ended"]


def get_window(sessions: sessionmaker[Session], window_id: int) -> PlannedWindow | None:
    from citysense.db.models import MaintenanceWindow

    with sessions() as session:
        row = session.get(MaintenanceWindow, window_id)
        return _plain(row) if row is not None else None


def end_window(sessions: sessionmaker[Session], window_id: int, *, actor: str = "cli") -> PlannedWindow:
    """End a running window now, or cancel a scheduled one; audited."""
    from citysense.db.models import MaintenanceWindow
    from citysense.keys import audit

    now = datetime.now(UTC)
    with sessions.begin() as session:
        row = session.get(MaintenanceWindow, window_id)
        if row is None:
            raise WindowNotFoundError(f"no maintenance window {window_id}")
        if _plain(row).state(now) == "ended":
            raise MaintenanceError(f"maintenance window {window_id} has already ended")
        before = row.ends_at
        row.ends_at = max(now, row.starts_at)
        audit(
            session,
            actor,
            "maintenance.end",
            "maintenance_window",
            str(window_id),
            {"planned_end": before.isoformat(), "ended_at": row.ends_at.isoformat()},
        )
        session.flush()
        return _plain(row)


maintenance_app = typer.Typer(
    help="Maintenance windows: planned work during which analytics opens no tickets.", no_args_is_help=True
)


def _sessions() -> sessionmaker[Session]:
    from citysense.db import connect
    from citysense.settings import CommonSettings

    return connect(CommonSettings().tickets_url)


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _line(window: PlannedWindow, now: datetime) -> str:
    what = " ".join(
        f"{name}={value}"
        for name, value in (
            ("district", window.district),
            ("device", window.device_id),
            ("service", window.service_code),
        )
        if value
    )
    return (
        f"{window.id}\t{window.state(now)}\t{window.starts_at:%Y-%m-%dT%H:%MZ}\t{window.ends_at:%Y-%m-%dT%H:%MZ}"
        f"\t{what or 'everything'}\t{window.reason}"
    )


@maintenance_app.command("add")
def add_command(
    start: Annotated[datetime, typer.Option("--from", help="when the work starts (UTC unless a zone is given)")],
    end: Annotated[datetime, typer.Option("--to", help="when the work ends (UTC unless a zone is given)")],
    district: Annotated[str | None, typer.Option(help="only this district")] = None,
    device: Annotated[str | None, typer.Option(help="only this device")] = None,
    service: Annotated[str | None, typer.Option(help="only this service code, e.g. flood")] = None,
    reason: Annotated[str, typer.Option(help="what the work is, for the audit log and the console")] = "",
    actor: Annotated[str, typer.Option(help="who plans it, for the audit log")] = "cli",
) -> None:
    """Plan a window; with neither --district nor --device it covers the whole city."""
    as_utc = [moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in (start, end)]
    try:
        window = plan_window(
            _sessions(),
            starts_at=as_utc[0],
            ends_at=as_utc[1],
            district=district,
            device_id=device,
            service_code=service,
            reason=reason,
            actor=actor,
        )
    except MaintenanceError as exc:
        raise _fail(exc) from None
    typer.echo(_line(window, datetime.now(UTC)))


@maintenance_app.command("list")
def list_command(
    all_windows: Annotated[bool, typer.Option("--all", help="ended windows too")] = False,
) -> None:
    """Windows not yet ended (id, state, from, to, what, reason), tab-separated."""
    now = datetime.now(UTC)
    for window in list_windows(_sessions(), include_ended=all_windows, now=now):
        typer.echo(_line(window, now))


@maintenance_app.command("end")
def end_command(
    window_id: Annotated[int, typer.Argument(help="the window's number, from `citysense maintenance list`")],
    actor: Annotated[str, typer.Option(help="who ends it, for the audit log")] = "cli",
) -> None:
    """End a running window now (or cancel one that has not started)."""
    try:
        window = end_window(_sessions(), window_id, actor=actor)
    except MaintenanceError as exc:
        raise _fail(exc) from None
    typer.echo(_line(window, datetime.now(UTC)))

"""`citysense tickets ...`: ticket chores for operators at the command line (the same workflow as the API)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["tickets_app"]

tickets_app = typer.Typer(help="Tickets: mark an anomaly ticket a false alarm, confirm one.", no_args_is_help=True)

_Id = Annotated[int, typer.Argument(min=1, max=2**31 - 1, help="the ticket's number")]
_Note = Annotated[str | None, typer.Option(help="a note for the ticket's timeline")]
_By = Annotated[str, typer.Option("--by", help="who marks it, for the audit log")]


def _run(action: str, ticket_id: int, note: str | None, by: str) -> None:
    from api.workflow import InvalidTransitionError, TicketNotFoundError, confirm_anomaly, mark_false_alarm
    from citysense.db import connect
    from citysense.keys import Principal
    from citysense.settings import CommonSettings

    sessions = connect(CommonSettings().tickets_url)
    principal = Principal(name=f"cli:{by}", scopes=frozenset({"tickets:write"}))
    act = mark_false_alarm if action == "false-alarm" else confirm_anomaly
    try:
        ticket = act(sessions, ticket_id, principal, note=note)
    except (TicketNotFoundError, InvalidTransitionError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"ticket {ticket.id}: {ticket.status}, {'public' if ticket.public else 'operators only'}")


@tickets_app.command("false-alarm")
def false_alarm(ticket_id: _Id, note: _Note = None, by: _By = "operator") -> None:
    """Mark an anomaly ticket a false alarm: analytics learns that deviation is normal for the series."""
    _run("false-alarm", ticket_id, note, by)


@tickets_app.command("confirm")
def confirm(ticket_id: _Id, note: _Note = None, by: _By = "operator") -> None:
    """Confirm an anomaly ticket: residents see it from now on."""
    _run("confirm", ticket_id, note, by)

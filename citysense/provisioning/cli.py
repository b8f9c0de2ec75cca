"""`citysense devices ...`: register devices, issue their broker logins, write the ACL.

Only typer is imported at module level; the database layer loads inside each command.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from citysense.provisioning.registry import BrokerFiles

devices_app = typer.Typer(
    help="Provision devices: registry entry, Mosquitto login (password file) and ACL, device config file.",
    no_args_is_help=True,
)

PasswordFileOpt = Annotated[
    Path | None,
    typer.Option(
        help="Mosquitto password_file to maintain (default: DATA_DIR/mosquitto/passwd)",
        envvar="CITYSENSE_MOSQUITTO_PASSWORD_FILE",
    ),
]
AclFileOpt = Annotated[
    Path | None,
    typer.Option(
        help="Mosquitto acl_file to maintain (default: DATA_DIR/mosquitto/acl)", envvar="CITYSENSE_MOSQUITTO_ACL_FILE"
    ),
]


def _context(password_file: Path | None, acl_file: Path | None) -> tuple[sessionmaker[Session], BrokerFiles, str]:
    from citysense.db import connect
    from citysense.provisioning.registry import BrokerFiles
    from citysense.settings import CommonSettings

    settings = CommonSettings()
    files = BrokerFiles(
        password_file or settings.data_dir / "mosquitto" / "passwd",
        acl_file or settings.data_dir / "mosquitto" / "acl",
    )
    return connect(settings.tickets_url), files, settings.broker.url


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@devices_app.command("add")
def add(
    device_id: Annotated[str, typer.Argument(metavar="ID", help="device id: letters, digits, '-', '_', '.'")],
    district: Annotated[str, typer.Option(help="district the device reports for")],
    kind: Annotated[str, typer.Option(help="air, water, rain (chooses the sensors in the printed config) or other")],
    broker_url: Annotated[
        str | None, typer.Option(help="broker URL the device should use (default: CITYSENSE_BROKER__URL)")
    ] = None,
    ca_file: Annotated[str | None, typer.Option(help="CA certificate path on the device, for mqtts://")] = None,
    password_file: PasswordFileOpt = None,
    acl_file: AclFileOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="write the config file here (mode 0600) instead of printing it")
    ] = None,
) -> None:
    """Register a device, give it a new strong password and print its config file (stdout).

    The config holds the password, so the file it lands in is made 0600 whatever the umask: the
    `--out` file, or stdout when the shell redirected it to a file (`> node.toml`).

    Running it again for the same id rotates the password. Reload Mosquitto afterwards
    (`systemctl reload mosquitto` or SIGHUP) so it reads the new password file.
    """
    from citysense.errors import CitysenseError
    from citysense.provisioning.device_config import render_device_config, write_secret
    from citysense.provisioning.registry import add_device

    try:
        sessions, files, default_url = _context(password_file, acl_file)
        password = add_device(sessions, files, device_id, district=district, kind=kind)
    except (CitysenseError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    config = render_device_config(
        device_id, broker_url=broker_url or default_url, password=password, kind=kind, ca_file=ca_file
    )
    try:
        write_secret(config, out)
    except OSError as exc:
        raise _fail(f"cannot write the device config: {exc}") from None
    typer.secho(f"registered {device_id} in {district}; login written to {files.password_file}", err=True)


@devices_app.command("service")
def service(
    name: Annotated[
        str, typer.Argument(help="citysense-ingest, citysense-analytics or citysense-operator (the declared services)")
    ],
    password_file: PasswordFileOpt = None,
    acl_file: AclFileOpt = None,
) -> None:
    """Create (or rotate) the broker login of a declared service and print its password.

    Only the services citysense declares get rights beyond a device's (citysense/provisioning/services.py):
    ingest reads readings and writes dead letters, analytics reads readings and status and writes
    tickets, operator pushes retained device configs.
    """
    from citysense.errors import CitysenseError
    from citysense.provisioning.registry import add_service

    try:
        sessions, files, _ = _context(password_file, acl_file)
        typer.echo(add_service(sessions, files, name))
    except (CitysenseError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None


@devices_app.command("list")
def list_(
    password_file: PasswordFileOpt = None,
    acl_file: AclFileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Show registered devices, their district and kind, and whether they can log in."""
    import json

    from rich.console import Console
    from rich.table import Table

    from citysense.provisioning.registry import list_devices

    sessions, files, _ = _context(password_file, acl_file)
    records = list_devices(sessions, files)
    if as_json:
        for r in records:
            state = "revoked" if r.revoked_at else ("active" if r.has_login else "no-login")
            row = {
                "id": r.device_id,
                "district": r.district,
                "kind": r.kind,
                "state": state,
                "created_at": r.created_at.isoformat(),
            }
            typer.echo(json.dumps(row))
        return
    table = Table("id", "district", "kind", "state", "registered")
    for r in records:
        state = f"revoked {r.revoked_at:%Y-%m-%d}" if r.revoked_at else ("active" if r.has_login else "no login")
        table.add_row(r.device_id, r.district, r.kind, state, f"{r.created_at:%Y-%m-%d %H:%M}")
    Console().print(table)
    typer.echo(f"{len(records)} devices", err=True)


@devices_app.command("revoke")
def revoke(
    device_id: Annotated[str, typer.Argument(metavar="ID", help="device to cut off")],
    password_file: PasswordFileOpt = None,
    acl_file: AclFileOpt = None,
) -> None:
    """Remove a device's broker login (reload Mosquitto to apply); its registry entry and history stay."""
    from citysense.errors import CitysenseError
    from citysense.provisioning.registry import revoke_device

    try:
        sessions, files, _ = _context(password_file, acl_file)
        revoke_device(sessions, files, device_id)
    except (CitysenseError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"revoked {device_id}")

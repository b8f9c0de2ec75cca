"""`citysense dashboards build|push`: write the dashboards as JSON, or push them into a Grafana."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["dashboards_app"]

dashboards_app = typer.Typer(
    help="Grafana dashboards as code: write them as JSON files, or push them and their data sources to a Grafana.",
    no_args_is_help=True,
)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@dashboards_app.command("build")
def build(
    out: Annotated[Path, typer.Option(help="folder to write {uid}.json into (created if missing)")],
) -> None:
    """Write every dashboard as JSON, byte for byte the same on every run (for provisioning or review)."""
    from dashboards.render import write_all

    try:
        written = write_all(out)
    except OSError as exc:
        raise _fail(f"could not write to {out}: {exc}") from None
    for path in written:
        typer.echo(f"wrote {path}")


@dashboards_app.command("push")
def push(
    url: Annotated[str, typer.Option(help="Grafana's address, e.g. https://grafana.example.org", envvar="GRAFANA_URL")],
    token: Annotated[
        str, typer.Option(help="a Grafana service account token with Editor rights", envvar="GRAFANA_TOKEN")
    ],
    influx_url: Annotated[
        str | None,
        typer.Option(
            help="InfluxDB as Grafana reaches it, e.g. http://influxdb:8086", envvar="CITYSENSE_GRAFANA_INFLUX_URL"
        ),
    ] = None,
    influx_database: Annotated[
        str, typer.Option(help="InfluxQL database (bucket on 2.x)", envvar="CITYSENSE_GRAFANA_INFLUX_DATABASE")
    ] = "citysense",
    influx_token: Annotated[
        str | None, typer.Option(help="InfluxDB 2.x/3.x token", envvar="CITYSENSE_GRAFANA_INFLUX_TOKEN")
    ] = None,
    postgres_host: Annotated[
        str | None,
        typer.Option(
            help="tickets database as Grafana reaches it, host:port", envvar="CITYSENSE_GRAFANA_POSTGRES_HOST"
        ),
    ] = None,
    postgres_database: Annotated[
        str, typer.Option(help="tickets database name", envvar="CITYSENSE_GRAFANA_POSTGRES_DATABASE")
    ] = "citysense",
    postgres_user: Annotated[
        str, typer.Option(help="a read-only PostgreSQL user", envvar="CITYSENSE_GRAFANA_POSTGRES_USER")
    ] = "citysense",
    postgres_password: Annotated[
        str | None, typer.Option(help="its password", envvar="CITYSENSE_GRAFANA_POSTGRES_PASSWORD")
    ] = None,
    postgres_sslmode: Annotated[
        str, typer.Option(help="disable, require, verify-full...", envvar="CITYSENSE_GRAFANA_POSTGRES_SSLMODE")
    ] = "disable",
    datasources: Annotated[
        bool, typer.Option(help="also create or update the two data sources (needs --influx-url, --postgres-host)")
    ] = True,
    update_secrets: Annotated[
        bool, typer.Option(help="rewrite the data sources' token and password even when nothing else changed")
    ] = False,
    folder: Annotated[str, typer.Option(help="uid and title of the Grafana folder")] = "citysense",
    dry_run: Annotated[bool, typer.Option(help="only say what would be created or updated")] = False,
) -> None:
    """Create or update the data sources and dashboards in an existing Grafana; safe to run again."""
    from grafana_client.api import GrafanaApi

    from dashboards.push import DataSourceSettings, GrafanaPushError, datasource_payloads
    from dashboards.push import push as run_push
    from dashboards.render import build_all

    payloads = []
    if datasources:
        if not influx_url or not postgres_host:
            raise _fail("pushing data sources needs --influx-url and --postgres-host (or --no-datasources)")
        settings = DataSourceSettings(
            influx_url=influx_url,
            postgres_host=postgres_host,
            influx_database=influx_database,
            influx_token=influx_token,
            postgres_database=postgres_database,
            postgres_user=postgres_user,
            postgres_password=postgres_password,
            postgres_sslmode=postgres_sslmode,
        )
        payloads = datasource_payloads(settings)
    try:
        api = GrafanaApi.from_url(url, credential=token)
        outcomes = run_push(
            api,
            build_all(),
            datasources=payloads,
            folder_uid=folder,
            folder_title=folder,
            update_secrets=update_secrets,
            dry_run=dry_run,
        )
    except (GrafanaPushError, ValueError) as exc:
        raise _fail(str(exc)) from None
    verb = "would " if dry_run else ""
    for outcome in outcomes:
        typer.echo(f"{outcome.kind} {outcome.uid}: {verb}{outcome.action.value}")

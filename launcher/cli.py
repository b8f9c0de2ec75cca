"""The `citysense` command. Heavy parts are imported inside their commands so that the edge
install (no FastAPI, no pandas) can still run `citysense edge ...`."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from analytics.cli import evaluate
from api.tickets_cli import tickets_app
from citysense.errors import CitysenseError
from citysense.keys import keys_app
from citysense.maintenance import maintenance_app
from citysense.provisioning.cli import devices_app
from citysense.users import users_app
from dashboards.cli import dashboards_app
from edge.cli import edge_app
from simulators.cli import simulate

app = typer.Typer(
    name="citysense",
    help="City sensing: edge nodes, ingest, analytics, proactive tickets and a public status page.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
mqtt_app = typer.Typer(help="Small MQTT tools for operators: publish a payload, watch a topic.", no_args_is_help=True)
app.add_typer(mqtt_app, name="mqtt")
app.add_typer(edge_app, name="edge")
app.add_typer(devices_app, name="devices")
app.add_typer(keys_app, name="keys")
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(users_app, name="users")
app.add_typer(dashboards_app, name="dashboards")
app.add_typer(tickets_app, name="tickets")
app.command()(simulate)
app.command()(evaluate)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="port of the API and status page")] = 8000,
    host: Annotated[str, typer.Option(help="address the API listens on")] = "127.0.0.1",
    mqtt_port: Annotated[int, typer.Option(help="port of the embedded MQTT broker")] = 1884,
    data_dir: Annotated[Path, typer.Option(help="where the SQLite files live")] = Path("var"),
    interval: Annotated[float, typer.Option(min=0.1, help="seconds between a sensor's reports")] = 5.0,
    scenario: Annotated[str, typer.Option(help="scenario name or YAML file")] = "demo",
    seed: Annotated[int, typer.Option(help="random seed of the simulated signals")] = 42,
    quiet_period: Annotated[float, typer.Option(help="seconds of normal readings before a ticket resolves")] = 120,
) -> None:
    """Run the whole city in one process: embedded broker, simulated sensors, ingest, analytics, API."""
    from citysense.runtime import setup_logging
    from launcher.demo import run_demo

    setup_logging("INFO", service="demo")
    try:
        run_demo(
            data_dir=data_dir,
            host=host,
            port=port,
            mqtt_port=mqtt_port,
            interval_s=interval,
            scenario=scenario,
            seed=seed,
            quiet_period_s=quiet_period,
        )
    except (CitysenseError, FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from None


@app.command()
def ingest() -> None:
    """Store readings from the configured broker into the configured time-series store."""
    from citysense.runtime import run_until_signal, setup_logging
    from citysense.settings import IngestSettings
    from ingest.service import IngestService

    try:
        settings = IngestSettings()
        setup_logging(settings.log_level, service="ingest", log_format=settings.log_format)
        service = IngestService(settings)
        run_until_signal([service])
    except (CitysenseError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if service.fatal_reason is not None:  # broken, not asked to stop: non-zero for the supervisor
        raise _fail(f"ingest stopped: {service.fatal_reason}")


@app.command()
def analytics() -> None:
    """Watch readings on the configured broker and open proactive tickets."""
    from analytics.service import AnalyticsService
    from citysense.runtime import run_until_signal, setup_logging
    from citysense.settings import AnalyticsSettings

    try:
        settings = AnalyticsSettings()
        setup_logging(settings.log_level, service="analytics", log_format=settings.log_format)
        service = AnalyticsService(settings)
        run_until_signal([service], foreground=lambda: _until_signal_or(service.fatal_event))
    except (CitysenseError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if service.fatal is not None:  # exit non-zero so that a supervisor (compose) restarts it
        raise _fail(f"analytics stopped: {service.fatal}")


def _until_signal_or(broken: threading.Event) -> None:
    """Block until SIGINT/SIGTERM or until the service says it is fatally broken."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5) and not broken.is_set():
        pass


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="listen address (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (default from settings)")] = None,
) -> None:
    """Serve the public status API and page and the operator API."""
    from api.server import ApiServer
    from citysense.runtime import check_port_free, setup_logging
    from citysense.settings import ApiSettings

    try:
        overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
        settings = ApiSettings(**overrides)  # type: ignore[arg-type]
        setup_logging(settings.log_level, service="api", log_format=settings.log_format)
        check_port_free(settings.host, settings.port, "the API")
        typer.echo(f"citysense API on http://{settings.host}:{settings.port}/")
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled
            ApiServer(settings).serve_forever()
    except (CitysenseError, ValueError) as exc:
        raise _fail(str(exc)) from None


@app.command()
def migrate() -> None:
    """Bring the relational database (CITYSENSE_TICKETS_URL) to the newest schema."""
    from citysense.db import migrate as run_migrations
    from citysense.settings import CommonSettings

    settings = CommonSettings()
    run_migrations(settings.tickets_url)
    typer.echo(f"database at {settings.tickets_url} is up to date")


@mqtt_app.command("pub")
def mqtt_pub(
    topic: Annotated[str, typer.Argument(help="topic to publish to")],
    payload: Annotated[str, typer.Argument(help="payload text; '-' reads standard input")],
    url: Annotated[str | None, typer.Option(help="broker URL, e.g. mqtt://127.0.0.1:1884")] = None,
) -> None:
    """Publish one message at QoS 1 (e.g. to see a malformed payload dead-lettered)."""
    from citysense.mqtt import connect_and_wait, make_client
    from citysense.settings import BrokerSettings

    broker = BrokerSettings(url=url) if url else BrokerSettings()
    data = sys.stdin.buffer.read() if payload == "-" else payload.encode()
    client = make_client(broker, client_id="")
    try:
        connect_and_wait(client, broker)
    except CitysenseError as exc:
        raise _fail(str(exc)) from None
    client.publish(topic, data, qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
    typer.echo(f"published {len(data)} bytes to {topic}")


@mqtt_app.command("sub")
def mqtt_sub(
    topic: Annotated[str, typer.Argument(help="topic filter, e.g. cs/v1/deadletter")],
    url: Annotated[str | None, typer.Option(help="broker URL, e.g. mqtt://127.0.0.1:1884")] = None,
    count: Annotated[int, typer.Option(min=0, help="exit after N messages (0: never)")] = 0,
) -> None:
    """Print messages on a topic, one JSON line each."""
    import threading

    from citysense.mqtt import connect_and_wait, make_client
    from citysense.settings import BrokerSettings

    broker = BrokerSettings(url=url) if url else BrokerSettings()
    client = make_client(broker, client_id="")
    seen = 0
    done = threading.Event()

    def on_message(_c: object, _u: object, message: object) -> None:
        nonlocal seen
        text = message.payload.decode("utf-8", "replace")  # type: ignore[attr-defined]
        print(json.dumps({"topic": message.topic, "payload": text}), flush=True)  # type: ignore[attr-defined]
        seen += 1
        if count and seen >= count:
            done.set()

    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_message = on_message
    try:
        connect_and_wait(client, broker)
        done.wait()
    except KeyboardInterrupt:
        pass
    except CitysenseError as exc:
        raise _fail(str(exc)) from None
    finally:
        client.disconnect()
        client.loop_stop()


def main() -> None:
    app()


if __name__ == "__main__":
    main()

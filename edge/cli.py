"""`citysense edge ...`: run the agent on a node. Only typer is imported at module level, so
`citysense --help` stays fast and light on a Raspberry Pi."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

edge_app = typer.Typer(
    help="The Raspberry Pi edge agent: sample sensors, queue on disk, publish over MQTT.", no_args_is_help=True
)


@edge_app.command("run")
def run(
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            help="the node's TOML file: device_id, [broker], [queue], [[sensors]] (see docs/edge-raspberry-pi.md)",
            envvar="CITYSENSE_EDGE_CONFIG",
        ),
    ],
    battery_file: Annotated[
        Path | None,
        typer.Option(
            help="a file holding the battery level in percent, for a HAT the kernel does not list in "
            "/sys/class/power_supply (overrides the config file's battery_file)",
            envvar="CITYSENSE_EDGE_BATTERY_FILE",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR")] = "INFO",
) -> None:
    """Run the agent until SIGTERM/SIGINT. Readings are on disk before they are sent, so a power
    cut or a dead mobile link loses nothing; a systemd unit with a watchdog is in deploy/systemd/."""
    import signal
    import threading

    from citysense.errors import CitysenseError
    from citysense.logs import set_log_fields
    from citysense.runtime import setup_logging
    from edge.agent import Agent
    from edge.config import load_config

    setup_logging(log_level.upper())
    try:
        node = load_config(config)
        if battery_file is not None:
            node = node.model_copy(update={"battery_file": battery_file})
        agent = Agent(node)
    except (CitysenseError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
    set_log_fields(device_id=agent.device_id)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    agent.start()
    typer.echo(f"edge agent {agent.device_id} running; {agent.queue.depth} packs queued", err=True)
    try:
        agent.run_until(stop)
    finally:
        agent.stop()

"""`citysense evaluate`: detection quality on simulated scenarios with ground truth.

Heavy imports (the simulator, scikit-learn, SQLAlchemy) happen inside the command so that
`citysense --help` stays light.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

__all__ = ["evaluate"]

_COLUMNS = (
    ("type", "type"),
    ("truth", "truth"),
    ("found", "found"),
    ("tickets", "tickets"),
    ("false", "false"),
    ("duplicates", "dup"),
    ("flapping", "flap"),
    ("stale", "stale"),
    ("precision", "precision (95% CI)"),
    ("recall", "recall (95% CI)"),
    ("f1", "F1"),
    ("median_time_to_ticket_s", "median to ticket"),
    ("p95_time_to_ticket_s", "p95 to ticket"),
    ("false_per_100_device_days", "false /100 dev-days"),
    ("before_true_crossing", "before true crossing"),
)


def _cell(key: str, row: dict[str, Any]) -> str:
    value = row[key]
    if value is None:
        return "-"
    if key.endswith("_s"):
        return f"{value / 60:.0f} min"
    interval = row.get(f"{key}_ci95")
    if interval:
        return f"{value:.3f} ({interval[0]:.2f}-{interval[1]:.2f})"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _table(title: str, rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for _, label in _COLUMNS:
        table.add_column(label, justify="left" if label == "type" else "right")
    for row in rows:
        table.add_row(*(_cell(key, row) for key, _ in _COLUMNS))
    return table


def evaluate(
    scenario: Annotated[
        str,
        typer.Option(
            help="'standard' (the development set), 'confirm' (a second one, where a choice is checked), "
            "'holdout' (never tuned on), one run of any of them by name, "
            "a shipped run (incidents, faults, quiet), or a simulator scenario name or YAML file"
        ),
    ] = "standard",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document instead of tables")] = False,
    days: Annotated[
        float | None, typer.Option(min=0.1, help="simulate this many days instead of the run's own")
    ] = None,
    devices: Annotated[int | None, typer.Option(min=1, help="simulate N devices instead of the whole city")] = None,
    seed: Annotated[int | None, typer.Option(help="simulator seed instead of the run's own")] = None,
    history_days: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=60,
            help="days of ordinary city analytics learns from before the run, unscored (its warm-up), "
            "instead of the run's own; 0 starts analytics cold",
        ),
    ] = None,
) -> None:
    """Run scenarios with ground truth through analytics on the accelerated clock and score the tickets.

    Per incident, fault and anomaly type, totalled over the runs: truth records, found, tickets, false,
    duplicates, flapping, stale, precision and recall with Wilson 95 % intervals, F1, median and p95
    time to ticket, false tickets per 100 device-days, and for floods the share ticketed before the
    true level crossed the flood level. Scoring rules: docs/detection.md.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from analytics.evaluate import RunReport, evaluate_run, load_runs, report_document
    from citysense.errors import CitysenseError
    from citysense.runtime import setup_logging
    from citysense.settings import AnalyticsSettings

    console = Console(stderr=True)
    try:
        settings = AnalyticsSettings()
        setup_logging("WARNING")  # the policy logs every ticket at INFO: thousands in a week
        runs = load_runs(scenario)
        overrides: dict[str, Any] = {k: v for k, v in (("days", days), ("devices", devices), ("seed", seed)) if v}
        if history_days is not None:
            overrides["history_days"] = history_days
        reports: list[RunReport] = []
        for run in runs:
            run = run.model_copy(update=overrides)
            with Progress(
                TextColumn(f"{run.name}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
            ) as bar:
                task = bar.add_task(run.name, total=(run.history_days + run.days) * 86_400)

                def advance(done: float, bar: Progress = bar, task: TaskID = task) -> None:
                    bar.update(task, completed=done)

                reports.append(evaluate_run(run, settings, progress=advance))
    except (CitysenseError, FileNotFoundError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None

    document = report_document(scenario, reports)
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    out = Console()
    for report in document["runs"]:
        out.print(
            _table(
                f"{report['scenario']} (seed {report['seed']}, {report['city']}, from {report['start']}): "
                f"{report['devices']} devices, {report['days']:g} days, {report['readings']:,} readings in "
                f"{report['wall_s']:.0f} s; {report['false_tickets_per_100_device_days']:.2f} false tickets "
                "per 100 device-days",
                report["types"],
            )
        )
    if len(reports) > 1:
        total = document["summary"]
        out.print(
            _table(
                f"{scenario}: all {len(reports)} runs, {total['device_days']:,.0f} device-days, "
                f"{total['false_tickets_per_100_device_days']:.2f} false tickets per 100 device-days",
                document["types"],
            )
        )

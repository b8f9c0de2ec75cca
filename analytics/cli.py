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
    ("records", "truth"),
    ("detected", "found"),
    ("tickets", "tickets"),
    ("false_tickets", "false"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("f1", "F1"),
    ("median_time_to_ticket_s", "median to ticket"),
    ("p95_time_to_ticket_s", "p95 to ticket"),
    ("median_lead_time_s", "median lead"),
    ("ticketed_before_threshold", "before threshold"),
)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key.endswith("_s"):
        return f"{value / 60:.0f} min"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def combine(reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-type totals over several runs (counts add up; precision, recall and F1 are recomputed)."""
    totals: dict[str, dict[str, Any]] = {}
    for report in reports:
        for name, t in report["types"].items():
            if not t["records"] and not t["tickets"]:
                continue
            total = totals.setdefault(name, {"records": 0, "detected": 0, "tickets": 0, "false_tickets": 0})
            for key in ("records", "detected", "tickets", "false_tickets"):
                total[key] += t[key]
    for total in totals.values():
        true = total["tickets"] - total["false_tickets"]
        precision = true / total["tickets"] if total["tickets"] else (1.0 if not total["records"] else 0.0)
        recall = total["detected"] / total["records"] if total["records"] else 1.0
        total["precision"] = round(precision, 4)
        total["recall"] = round(recall, 4)
        total["f1"] = round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0
    return totals


def evaluate(
    scenario: Annotated[
        str,
        typer.Option(
            help="'standard' (every shipped run), a shipped run (incidents, faults, quiet), "
            "or a simulator scenario name or YAML file"
        ),
    ] = "standard",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document instead of tables")] = False,
    days: Annotated[
        float | None, typer.Option(min=0.1, help="simulate this many days instead of the run's own")
    ] = None,
    devices: Annotated[int | None, typer.Option(min=1, help="simulate N devices instead of the whole city")] = None,
    seed: Annotated[int | None, typer.Option(help="simulator seed instead of the run's own")] = None,
) -> None:
    """Run scenarios with ground truth through analytics on the accelerated clock and score the tickets.

    Per incident and fault type: precision, recall, F1, median and p95 time from the start to the
    ticket, lead time of flood tickets before the flood level, and false tickets per 100 device-days.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from analytics.evaluate import evaluate_run, load_runs
    from citysense.errors import CitysenseError
    from citysense.runtime import setup_logging
    from citysense.settings import AnalyticsSettings

    console = Console(stderr=True)
    try:
        settings = AnalyticsSettings()
        setup_logging("WARNING")  # the policy logs every ticket at INFO: thousands in a week
        runs = load_runs(scenario)
        overrides: dict[str, Any] = {k: v for k, v in (("days", days), ("devices", devices), ("seed", seed)) if v}
        reports = []
        for run in runs:
            run = run.model_copy(update=overrides)
            with Progress(
                TextColumn(f"{run.name}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
            ) as bar:
                task = bar.add_task(run.name, total=run.days * 86_400)

                def advance(done: float, bar: Progress = bar, task: TaskID = task) -> None:
                    bar.update(task, completed=done)

                report = evaluate_run(run, settings, progress=advance)
            reports.append(report.as_dict())
    except (CitysenseError, FileNotFoundError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None

    totals = combine(reports)
    if as_json:
        typer.echo(json.dumps({"runs": reports, "types": totals}, indent=2))
        return
    out = Console()
    for summary in reports:
        table = Table(
            title=f"{summary['scenario']}: {summary['devices']} devices, {summary['days']:g} days, "
            f"{summary['readings']:,} readings in {summary['wall_s']:.0f} s; "
            f"{summary['false_tickets_per_100_device_days']:.2f} false tickets per 100 device-days"
        )
        for _, label in _COLUMNS:
            table.add_column(label, justify="right" if label != "type" else "left")
        for name, t in summary["types"].items():
            if t["records"] or t["tickets"]:
                table.add_row(name, *(_cell(key, t[key]) for key, _ in _COLUMNS[1:]))
        out.print(table)
    if len(reports) > 1:
        table = Table(title="all runs")
        for label in ("type", "truth", "found", "tickets", "false", "precision", "recall", "F1"):
            table.add_column(label, justify="right" if label != "type" else "left")
        for name, t in sorted(totals.items()):
            table.add_row(name, *(_cell(k, t[k]) for k in ("records", "detected", "tickets", "false_tickets",
                                                           "precision", "recall", "f1")))  # fmt: skip
        out.print(table)

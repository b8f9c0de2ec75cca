"""Detection bench: `make bench-detection` runs the standard and hold-out sets and writes one JSON file per set.

Each file (`bench/results/detection-<set>.json`) is what `citysense evaluate --scenario <set> --json`
prints, plus when and on what it was measured. `run_set` returns the document so other benches can
add their own keys to the same file (`main(extra=...)`), e.g. scores on a public data set.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analytics.evaluate import REPORTED_SETS, SETS, Run, RunReport, TypeScore, evaluate_run, load_runs, report_document
from citysense.runtime import setup_logging
from citysense.settings import AnalyticsSettings

__all__ = ["main", "run_set"]

_ROOT = Path(__file__).resolve().parent.parent
RESULTS = _ROOT / "bench" / "results"


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def run_set(name: str, *, days: float | None = None, devices: int | None = None) -> dict[str, Any]:
    """Every run of the set through analytics, scored; the evaluate document with provenance."""
    settings = AnalyticsSettings()
    reports = []
    began = time.monotonic()
    for run in load_runs(name):
        overrides = {k: v for k, v in (("days", days), ("devices", devices)) if v}
        run = run.model_copy(update=overrides)
        report = evaluate_run(run, settings)
        reports.append(report)
        print(f"{name}: {run.name} done in {report.wall_s:.0f} s", file=sys.stderr, flush=True)
    document = report_document(name, reports)
    document["measured"] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "python": platform.python_version(),
        "wall_s": round(time.monotonic() - began, 1),
    }
    return document


def _save_run(report: RunReport, path: Path) -> None:
    """One run's report with its raw per-type counts, so runs measured apart can be merged exactly."""
    run = report.run.model_dump()
    for key in ("scenario", "city"):  # paths relative to the repository: results name no machine's folders
        if run[key] and Path(run[key]).is_absolute() and Path(run[key]).is_relative_to(_ROOT):
            run[key] = str(Path(run[key]).relative_to(_ROOT))
    raw = {
        "run": run,
        "devices": report.devices,
        "readings": report.readings,
        "simulated_days": report.simulated_days,
        "wall_s": report.wall_s,
        "tickets": report.tickets,
        "types": {name: asdict(score) for name, score in report.types.items()},
        "false_list": report.false_list,
        "missed": report.missed,
    }
    path.write_text(json.dumps(raw) + "\n")


def _load_run(path: Path) -> RunReport:
    raw = json.loads(path.read_text())
    types = {name: TypeScore(**score) for name, score in raw["types"].items()}
    return RunReport(Run(**raw["run"]), raw["devices"], raw["readings"], raw["simulated_days"], raw["wall_s"],
                     types, raw["tickets"], raw["false_list"], raw["missed"])  # fmt: skip


def main(argv: Sequence[str] | None = None, *, extra: Callable[[str, dict[str, Any]], None] | None = None) -> int:
    """Run the sets asked for and write `detection-<set>.json` for each; `extra` may add keys first."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--set", dest="sets", action="append", choices=SETS, help="default: the standard and hold-out sets"
    )
    parser.add_argument("--days", type=float, default=None, help="shorter runs (a smoke test, not a result)")
    parser.add_argument("--devices", type=int, default=None, help="fewer devices (a smoke test, not a result)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--run", help="measure one run of the set into <out>/runs/ (runs can go in parallel)")
    parser.add_argument("--merge", action="store_true", help="write the set's file from the runs in <out>/runs/")
    args = parser.parse_args(argv)
    setup_logging("WARNING")
    if args.run or args.merge:
        (name,) = args.sets or ["standard"]
        folder = args.out / "runs"
        folder.mkdir(parents=True, exist_ok=True)
        if args.run:
            (run,) = [r for r in load_runs(name) if r.name == args.run]
            _save_run(evaluate_run(run, AnalyticsSettings()), folder / f"{run.name}.json")
            return 0
        reports = [_load_run(folder / f"{r.name}.json") for r in load_runs(name)]
        document = report_document(name, reports)
        document["measured"] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "commit": _commit(),
                                "python": platform.python_version(), "runs_measured_apart": True}  # fmt: skip
        if extra is not None:
            extra(name, document)
        (args.out / f"detection-{name}.json").write_text(json.dumps(document, indent=2) + "\n")
        return 0
    for name in args.sets or REPORTED_SETS:
        document = run_set(name, days=args.days, devices=args.devices)
        if extra is not None:
            extra(name, document)
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"detection-{name}.json"
        path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

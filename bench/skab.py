"""The general anomaly detector on SKAB (Skoltech Anomaly Benchmark), scored by its published rules.

SKAB is GPL-3.0, so it is read from outside the repository (`--data`, default ../shared/data/skab,
the `data/` folder of the public waico/SKAB repository). Protocol: a fresh detector per file, fed
every row from the first as one multichannel reading (all sensor columns), scored from row 401; an
alarm is score >= 0.5, a predicted changepoint is a row where the alarm turns on. Beside each NAB
figure, the same number of predicted changepoints per file placed at random scored rows (mean of 10
seeds): the NAB windows are wide enough that random alarms score well.

Tuning happened on data/valve1/ only; the targets are valve2/ + other/; all 34 files are reported too.

    python bench/skab.py --data ../shared/data/skab
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.skab_scoring import FileRun, binary_scores, nab_scores

RESULTS = Path(__file__).resolve().parent / "results"
TRAIN_ROWS = 400
SEEDS = 10
GROUPS = {"valve1": ("valve1",), "target": ("valve2", "other"), "all": ("valve1", "valve2", "other")}
WHERE = "the data/ folder of the public waico/SKAB repository (GPL-3.0): https://github.com/waico/SKAB"


def _files(root: Path, folders: tuple[str, ...]) -> list[Path]:
    return [p for folder in folders for p in sorted((root / folder).glob("*.csv"), key=lambda p: int(p.stem))]


def run_file(path: Path, options: dict[str, Any]) -> tuple[FileRun, FileRun, float]:
    """(outlier run, changepoint run, seconds spent in the detector) for one file."""
    import pandas as pd

    from analytics.anomaly import make_detector

    frame = pd.read_csv(path, sep=";", parse_dates=["datetime"])
    channels = [c for c in frame.columns if c not in ("datetime", "anomaly", "changepoint")]
    times = [t.timestamp() for t in frame["datetime"]]
    rows = frame[channels].to_dict("records")
    det = make_detector(**options)
    alarms = []
    began = time.perf_counter()
    for t, row in zip(times, rows, strict=True):
        alarms.append(1 if det.update(t, row) >= 0.5 else 0)
    spent = time.perf_counter() - began
    onsets = [1 if a and (i == 0 or not alarms[i - 1]) else 0 for i, a in enumerate(alarms)]
    scored = slice(TRAIN_ROWS, None)
    t = times[scored]
    anomaly = [int(v) for v in frame["anomaly"].iloc[scored]]
    changepoint = [int(v) for v in frame["changepoint"].iloc[scored]]
    return FileRun(t, anomaly, alarms[scored]), FileRun(t, changepoint, onsets[scored]), spent


def random_control(runs: list[FileRun]) -> dict[str, float]:
    """NAB of as many changepoints per file as the detector predicted, at random rows; mean of 10 seeds."""
    totals: dict[str, list[float]] = {}
    for seed in range(SEEDS):
        rng = random.Random(seed)
        placed = []
        for run in runs:
            k = sum(run.predicted)
            rows = set(rng.sample(range(len(run.times)), k))
            placed.append(FileRun(run.times, run.truth, [1 if i in rows else 0 for i in range(len(run.times))]))
        for name, value in nab_scores(placed).items():
            totals.setdefault(name, []).append(value)
    return {name: round(statistics.mean(values), 2) for name, values in totals.items()}


def evaluate(root: Path, options: dict[str, Any]) -> dict[str, Any]:
    runs: dict[str, tuple[FileRun, FileRun]] = {}
    rows = spent = 0.0
    for path in _files(root, GROUPS["all"]):
        outlier, cp, s = run_file(path, options)
        runs[f"{path.parent.name}/{path.name}"] = (outlier, cp)
        rows += TRAIN_ROWS + len(outlier.times)
        spent += s
    out: dict[str, Any] = {}
    for group, folders in GROUPS.items():
        chosen = [v for k, v in runs.items() if k.split("/")[0] in folders]
        f1, far, mar = binary_scores([o for o, _ in chosen])
        nab = nab_scores([c for _, c in chosen])
        control = random_control([c for _, c in chosen])
        prefix = {"target": "skab_", "all": "skab_all_", "valve1": "skab_valve1_"}[group]
        out.update({
            f"{prefix}f1": f1, f"{prefix}far": far, f"{prefix}mar": mar,
            f"{prefix}nab_standard": nab["standard"], f"{prefix}nab_low_fp": nab["low_fp"],
            f"{prefix}nab_low_fn": nab["low_fn"],
            f"{prefix}nab_random_standard": control["standard"], f"{prefix}nab_random_low_fp": control["low_fp"],
            f"{prefix}files": len(chosen),
            f"{prefix}alarm_onsets": sum(sum(c.predicted) for _, c in chosen),
        })  # fmt: skip
    out["skab_us_per_update"] = round(spent / rows * 1e6, 2)
    return out


def main(
    data: Annotated[Path, typer.Option(help="SKAB checkout (holding data/valve1 ...) or its data/ folder")] = Path(
        "../shared/data/skab"
    ),
    budget: Annotated[float, typer.Option(help="the detector's alarm budget")] = 0.01,
    write: Annotated[bool, typer.Option(help="write bench/results/detection-skab.json")] = True,
) -> None:
    """Run the shipped detector on all 34 SKAB files and print the scores as JSON."""
    root = data / "data" if (data / "data" / "valve1").is_dir() else data
    if not (root / "valve1").is_dir():
        typer.echo(f"SKAB data not found under {data}: get {WHERE} and pass its path with --data", err=True)
        raise typer.Exit(code=2)
    began = time.perf_counter()
    row: dict[str, Any] = {"at": datetime.now().astimezone().isoformat(timespec="seconds"), "budget": budget}
    row.update(evaluate(root, {"budget": budget}))
    row["seconds"] = round(time.perf_counter() - began, 1)
    if write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "detection-skab.json").write_text(json.dumps(row, indent=2) + "\n")
    typer.echo(json.dumps(row, indent=2))


if __name__ == "__main__":
    typer.run(main)

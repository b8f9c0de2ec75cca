"""The SKAB scorer agrees with the benchmark's own (`tsad` 0.19.4 `evaluating`) on a synthetic fixture.

The fixture (three files, two anomalies each, the second changepoint of a file less than 60 s after
the previous one so windows overlap and get cut) is synthetic, not SKAB data. The expected figures
were produced by running tsad's `evaluating()` on these files with `window_width="60s"`,
`anomaly_window_destination="righter"` (changepoints) and `metric="binary"` (outliers).
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest

from bench.skab_scoring import FileRun, binary_scores, nab_scores

FIXTURES = Path(__file__).parent / "fixtures"


def _load(path: Path, *, onsets: bool) -> tuple[FileRun, FileRun]:
    with path.open() as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    times = [datetime.fromisoformat(r["datetime"]).timestamp() for r in rows]
    anomaly = [int(r["anomaly"]) for r in rows]
    cp = [int(r["changepoint"]) for r in rows]
    pred = [int(r["predicted"]) for r in rows]
    cp_pred = [1 if p and (i == 0 or not pred[i - 1]) else 0 for i, p in enumerate(pred)] if onsets else pred
    return FileRun(times, anomaly, pred), FileRun(times, cp, cp_pred)


def _files(onsets: bool = True) -> list[tuple[FileRun, FileRun]]:
    return [_load(p, onsets=onsets) for p in sorted(FIXTURES.glob("nab_*.csv"))]


def test_binary_matches_tsad() -> None:
    assert binary_scores([o for o, _ in _files()]) == (0.73, 8.37, 30.2)


@pytest.mark.parametrize(
    ("which", "onsets", "expected"),
    [
        ("all", True, {"standard": 61.3, "low_fp": 44.25, "low_fn": 71.42}),
        ("all", False, {"standard": 60.38, "low_fp": 42.41, "low_fn": 70.81}),
        ("first", True, {"standard": 58.01, "low_fp": 40.23, "low_fn": 72.01}),
    ],
)
def test_nab_matches_tsad(which: str, onsets: bool, expected: dict[str, float]) -> None:
    files = _files(onsets)
    runs = [cp for _, cp in files][: 1 if which == "first" else None]
    assert nab_scores(runs) == expected


def test_nab_bounds() -> None:
    """A perfect list of changepoints scores 100 (windows here do not overlap); none scores 0."""
    times = [float(i) for i in range(400)]
    truth = [1 if i in (100, 250) else 0 for i in range(400)]
    assert nab_scores([FileRun(times, truth, truth)])["standard"] == 100.0
    assert nab_scores([FileRun(times, truth, [0] * 400)]) == {"standard": 0.0, "low_fp": 0.0, "low_fn": 0.0}

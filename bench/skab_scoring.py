"""SKAB's published scoring rules, written out: outlier F1/FAR/MAR and NAB-style changepoint scores.

The benchmark scores with `evaluating()` from the `tsad` package, which pins old versions of torch,
pandas and scikit-learn; this module reimplements the two metrics SKAB's leaderboard uses with the
same conventions (checked against tsad's output in tests/bench/test_skab_scoring.py):

- binary: counts over all files summed, F1 = TP / (TP + (FN + FP) / 2), FAR = FP / (FP + TN) %,
  MAR = FN / (FN + TP) %, each rounded to 2 decimals;
- NAB: a window [cp, cp + width] right of each true changepoint (a window that overlaps the
  previous one starts where that one ends); the first predicted changepoint inside a window
  scores A_tp..A_fp along a tanh ramp sampled at 1000 points, a window with none costs A_fn, each
  prediction outside every window costs A_fp; the sum over files is normalised between "nothing
  found" (0) and "every window hit at its start" (100).
Times are seconds (any monotone number); predictions and truth are 0/1 per row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PROFILES", "FileRun", "binary_scores", "nab_scores"]

# A_tp, A_fp, A_fn per profile (A_tn plays no part).
PROFILES: dict[str, tuple[float, float, float]] = {
    "standard": (1.0, -0.11, -1.0),
    "low_fp": (1.0, -0.22, -1.0),
    "low_fn": (1.0, -0.11, -2.0),
}
_DETAIL = 1000


@dataclass(frozen=True, slots=True)
class FileRun:
    """One scored file: row times (s), true labels and predicted labels (0/1)."""

    times: Sequence[float]
    truth: Sequence[int]
    predicted: Sequence[int]


def binary_scores(runs: Sequence[FileRun]) -> tuple[float, float, float]:
    """(F1, FAR %, MAR %) over all rows of all files, as tsad's `metric="binary"` rounds them."""
    tp = tn = fp = fn = 0
    for run in runs:
        for t, p in zip(run.truth, run.predicted, strict=True):
            if t and p:
                tp += 1
            elif t:
                fn += 1
            elif p:
                fp += 1
            else:
                tn += 1
    f1 = round(tp / (tp + (fn + fp) / 2), 2) if tp + fn + fp else 0.0
    far = round(fp / (fp + tn) * 100, 2) if fp + tn else 0.0
    mar = round(fn / (fn + tp) * 100, 2) if fn + tp else 0.0
    return f1, far, mar


def _windows(run: FileRun, width: float) -> list[list[float]]:
    windows = [[t, t + width] for t, c in zip(run.times, run.truth, strict=True) if c]
    for i in range(len(windows) - 1):
        if windows[i][1] >= windows[i + 1][0]:
            windows[i + 1][0] = windows[i][1]
    return windows


def _ramp(a_tp: float, a_fp: float, position: float) -> float:
    """tsad's "improved" scaled sigmoid, sampled at 1000 points as it does."""
    event = min(int(position * _DETAIL), _DETAIL - 1)
    x = -math.pi / 2 + event * math.pi / (_DETAIL - 1)
    half = (a_tp - a_fp) / 2
    return -half * math.tanh(x) / math.tanh(math.pi / 2) + half + a_fp


def _file_counts(run: FileRun, width: float) -> tuple[int, int, list[float]]:
    """(windows, false positives, position in [0, 1] of each window's first hit)."""
    windows = _windows(run, width)
    alarms = [t for t, p in zip(run.times, run.predicted, strict=True) if p]
    if not windows:
        return 0, len(alarms), []
    fp = sum(1 for t in alarms if t < windows[0][0])
    hits = []
    for i, (start, end) in enumerate(windows):
        inside = [t for t in alarms if start <= t <= end]
        if inside:
            hits.append((inside[0] - start) / (end - start))
        if i + 1 < len(windows):
            fp += sum(1 for t in alarms if end < t < windows[i + 1][0])
    fp += sum(1 for t in alarms if t > windows[-1][1])
    return len(windows), fp, hits


def nab_scores(runs: Sequence[FileRun], width: float = 60.0) -> dict[str, float]:
    """NAB standard / low_fp / low_fn over all files (truth = changepoint rows, predicted = alarm onsets)."""
    counts = [_file_counts(run, width) for run in runs]
    out = {}
    for name, (a_tp, a_fp, a_fn) in PROFILES.items():
        score = null = perfect = 0.0
        for n_windows, fp, hits in counts:
            score += a_fp * fp + a_fn * (n_windows - len(hits)) + sum(_ramp(a_tp, a_fp, h) for h in hits)
            null += n_windows * a_fn
            perfect += n_windows * a_tp
        out[name] = round(100 * (score - null) / (perfect - null), 2) if perfect != null else 0.0
    return out

"""A ticket's evidence as a server-rendered SVG chart: its readings window against the expected band.

Drawn on the server so the console needs no chart library and the chart shows with scripts off.
The band is what analytics expected (an `expected` low/high in the finding's evidence, when its
detector gives one); otherwise the area under the rule's threshold, labelled as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from citysense.timeseries import TimeSeriesStore

__all__ = ["Chart", "Series", "evidence_chart", "readings_window"]

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 36
MAX_POINTS = 240
COLOURS = ("#0550ae", "#8250df", "#1a7f37", "#9a6700")


@dataclass(frozen=True, slots=True)
class Series:
    device_id: str
    points: list[tuple[int, float]]  # (epoch ms, value)


@dataclass(frozen=True, slots=True)
class Chart:
    """What the template draws: paths in SVG coordinates plus labels for axes and legend."""

    width: int
    height: int
    lines: list[tuple[str, str, str]]  # (device id, path, colour)
    band: tuple[float, float, str] | None  # (top y, bottom y, label)
    threshold_y: float | None
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    opened_x: float | None
    empty: bool


def readings_window(
    store: TimeSeriesStore, devices: list[str], quantity: str, start: datetime, end: datetime
) -> list[Series]:
    """The ticket's devices' readings of its quantity, bucketed to at most MAX_POINTS points each."""
    end = min(end, start + timedelta(days=31))
    span_s = max(1, int((end - start).total_seconds()))
    bucket = max(1, span_s // MAX_POINTS)
    found = []
    for device in devices[:4]:
        frame = store.read_range(
            device_id=device,
            quantity=quantity,
            start_ms=int(start.timestamp() * 1000),
            end_ms=int(end.timestamp() * 1000),
            bucket_s=bucket,
        )
        column = "mean" if "mean" in frame else "value"
        if column not in frame:
            continue
        times = [int(t.timestamp() * 1000) for t in frame.index.to_pydatetime()]
        values = [float(v) for v in frame[column].tolist()]
        points = [(t, v) for t, v in zip(times, values, strict=True) if v == v]  # drop NaN buckets
        if points:
            found.append(Series(device, points))
    return found


def _band(evidence: dict[str, Any]) -> tuple[float, float] | None:
    expected = evidence.get("expected")
    if isinstance(expected, dict) and {"low", "high"} <= expected.keys():
        return float(expected["low"]), float(expected["high"])
    return None


def evidence_chart(
    series: list[Series], *, threshold: float | None, evidence: dict[str, Any], opened_at: datetime
) -> Chart:
    """Scale the series, the band and the threshold into one chart."""
    points = [p for s in series for p in s.points]
    window = [(int(t), float(v)) for t, v in evidence.get("window", []) if isinstance(v, int | float)]
    if not points and window:
        series, points = [Series("evidence window", window)], window
    if not points:
        return Chart(WIDTH, HEIGHT, [], None, None, [], [], None, True)
    band = _band(evidence)
    values = [v for _, v in points] + ([threshold] if threshold else []) + (list(band) if band else [])
    low, high = min(values), max(values)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.08
    low, high = low - pad, high + pad
    t0, t1 = min(t for t, _ in points), max(t for t, _ in points)
    t1 = max(t1, t0 + 1)

    def x(t: float) -> float:
        return round(LEFT + (t - t0) / (t1 - t0) * (WIDTH - LEFT - RIGHT), 1)

    def y(v: float) -> float:
        return round(TOP + (high - v) / (high - low) * (HEIGHT - TOP - BOTTOM), 1)

    lines = []
    for i, s in enumerate(series):
        path = " ".join(f"{'M' if j == 0 else 'L'}{x(t)} {y(v)}" for j, (t, v) in enumerate(s.points))
        lines.append((s.device_id, path, COLOURS[i % len(COLOURS)]))
    if band is not None:
        shaded = (y(band[1]), y(band[0]), "expected range")
    elif threshold:
        shaded = (y(threshold), y(low), "below the threshold")
    else:
        shaded = None
    y_ticks = [(y(low + (high - low) * k / 4), f"{low + (high - low) * k / 4:.3g}") for k in range(5)]
    x_ticks = []
    for k in range(5):
        at = t0 + (t1 - t0) * k / 4
        x_ticks.append((x(at), datetime.fromtimestamp(at / 1000, UTC).strftime("%m-%d %H:%M")))
    opened_ms = opened_at.timestamp() * 1000
    opened_x = x(opened_ms) if t0 <= opened_ms <= t1 else None
    return Chart(
        WIDTH,
        HEIGHT,
        lines,
        shaded,
        y(threshold) if threshold else None,
        y_ticks,
        x_ticks,
        opened_x,
        False,
    )

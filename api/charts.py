"""Charts drawn on the server as inline SVG: no chart library, nothing to download, works offline.

Every chart is an `img` with a sentence for screen readers (first, last, lowest and highest value),
and lines differ by dash as well as colour, so colour is never the only signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape

__all__ = ["Band", "Series", "line_chart", "sparkline"]

Point = tuple[float, float]  # (unix seconds, value)

_DASHES = ("", "6 3", "2 3", "8 3 2 3")


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: Sequence[Point]


@dataclass(frozen=True, slots=True)
class Band:
    """A value range drawn behind the line: [low, high) is `category`, shown in class `css` with `label`."""

    low: float
    high: float
    category: str
    label: str
    css: str


def _fmt(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"


def _summary(points: Sequence[Point], unit: str) -> str:
    values = [v for _, v in points]
    return f"{_fmt(values[0])} → {_fmt(values[-1])} {unit} (min {_fmt(min(values))}, max {_fmt(max(values))})"


def sparkline(points: Sequence[Point], *, unit: str, label: str, width: int = 96, height: int = 24) -> Markup:
    """A small line for beside a current value; empty when there is nothing to draw."""
    if len(points) < 2:
        return Markup("")
    t0, t1 = points[0][0], points[-1][0]
    values = [v for _, v in points]
    low, high = min(values), max(values)
    span_v = (high - low) or 1.0
    span_t = (t1 - t0) or 1.0
    coords = " ".join(
        f"{(t - t0) / span_t * (width - 4) + 2:.1f},{height - 2 - (v - low) / span_v * (height - 4):.1f}"
        for t, v in points
    )
    text = escape(f"{label}: {_summary(points, unit)}")
    return Markup(
        f'<svg class="spark" role="img" aria-label="{text}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}"><title>{text}</title>'
        f'<polyline points="{coords}" fill="none" stroke="currentColor" stroke-width="1.5"/></svg>'
    )


def line_chart(
    series: Sequence[Series],
    *,
    unit: str,
    label: str,
    limit: float | None = None,
    limit_label: str = "limit",
    bands: Sequence[Band] = (),
    width: int = 640,
    height: int = 220,
) -> Markup:
    """Lines over time with an optional dashed limit and category bands behind; axes labelled in `unit`."""
    drawn = [s for s in series if len(s.points) >= 1]
    if not drawn:
        return Markup("")
    left, right, top, bottom = 48, 8, 8, 22
    times = [t for s in drawn for t, _ in s.points]
    values = [v for s in drawn for _, v in s.points] + ([limit] if limit is not None else [])
    t0, t1 = min(times), max(times)
    low = min(0.0, min(values))
    high = max(values) * 1.1 or 1.0
    span_t = (t1 - t0) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + (t - t0) / span_t * plot_w

    def y(v: float) -> float:
        return top + plot_h - (min(max(v, low), high) - low) / (high - low) * plot_h

    parts: list[str] = []
    for band in bands:
        if band.high <= low or band.low >= high:
            continue
        y_top, y_bottom = y(min(band.high, high)), y(max(band.low, low))
        parts.append(
            f'<rect class="band {band.css}" x="{left}" y="{y_top:.1f}" width="{plot_w}" '
            f'height="{max(y_bottom - y_top, 0):.1f}"><title>{escape(band.label)}</title></rect>'
        )
        if y_bottom - y_top >= 12:
            parts.append(
                f'<text class="band-label" x="{left + plot_w - 4}" y="{y_top + 11:.1f}" text-anchor="end">'
                f"{escape(band.label)}</text>"
            )
    for tick in (low, (low + high) / 2, high):
        parts.append(
            f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>'
            f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
        )
    parts.append(f'<text x="4" y="{top + 10}">{escape(unit)}</text>')
    for when, anchor in ((t0, "start"), (t1, "end")):
        stamp = datetime.fromtimestamp(when, UTC).strftime("%d %b %H:%M")
        parts.append(f'<text x="{x(when):.1f}" y="{height - 6}" text-anchor="{anchor}">{stamp} UTC</text>')
    if limit is not None:
        parts.append(
            f'<line class="limit" x1="{left}" x2="{left + plot_w}" y1="{y(limit):.1f}" y2="{y(limit):.1f}"/>'
            f'<text class="limit-label" x="{left + 4}" y="{y(limit) - 4:.1f}">'
            f"{escape(limit_label)} {_fmt(limit)} {escape(unit)}</text>"
        )
    for i, s in enumerate(drawn):
        dash = _DASHES[i % len(_DASHES)]
        style = f' stroke-dasharray="{dash}"' if dash else ""
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in s.points)
        if len(s.points) == 1:
            t, v = s.points[0]
            parts.append(f'<circle class="line s{i % 4}" cx="{x(t):.1f}" cy="{y(v):.1f}" r="3"/>')
        else:
            parts.append(f'<polyline class="line s{i % 4}" points="{coords}"{style}/>')
    description = "; ".join(f"{s.name}: {_summary(s.points, unit)}" for s in drawn)
    if limit is not None:
        description += f"; {limit_label} {_fmt(limit)} {unit}"
    text = escape(f"{label}. {description}")
    return Markup(
        f'<svg class="chart" role="img" aria-label="{text}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{text}</title>{"".join(parts)}</svg>'
    )

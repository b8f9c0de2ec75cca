"""Grafana's variable and macro substitution, for running panel queries outside Grafana.

This is what Grafana does to a query before its data source sees it, restricted to what the
citysense dashboards use, so that `citysense dashboards` tests (and operators checking a new
store) can execute every panel's query as Grafana would:

- InfluxQL: `$timeFilter` becomes `time >= {from}ms and time <= {to}ms`, `$__interval` a
  duration; a multi-value variable becomes a regex group `(a|b)`, each value regex-escaped.
- SQL (PostgreSQL): `$__timeFilter(col)`, `$__timeFrom()`, `$__timeTo()`, `$__time(col)` and
  `$__timeGroupAlias(col, 'interval')`; a multi-value variable becomes a quoted list `'a','b'`.

A variable the query names but nobody defined raises `KeyError`: Grafana would leave it in
the text and the data source would fail, so it is a bug to report, not to hide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal

__all__ = ["Dialect", "TimeRange", "interpolate", "variable_names"]

Dialect = Literal["influxql", "sql"]

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
_REGEX_SPECIAL = re.compile(r"([\\^$*+?.()|{}\[\]/])")
_DURATION = re.compile(r"'?(\d+)([smhd])'?")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class TimeRange:
    """The dashboard's time range and the interval Grafana would pick for it."""

    def __init__(self, start_ms: int, end_ms: int, interval: str = "1m") -> None:
        if end_ms <= start_ms:
            raise ValueError("a time range must end after it starts")
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.interval = interval

    def iso(self, ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def variable_names(text: str) -> set[str]:
    """The template variables a query uses (Grafana's built-in `$__...` and `$timeFilter` excluded)."""
    names = {next(g for g in m.groups() if g) for m in _VARIABLE.finditer(text)}
    return {n for n in names if not n.startswith("__") and n != "timeFilter"}


def _influx_value(values: Sequence[str]) -> str:
    escaped = [_REGEX_SPECIAL.sub(r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def _sql_value(values: Sequence[str]) -> str:
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


def _seconds(interval: str) -> int:
    match = _DURATION.fullmatch(interval.strip())
    if match is None:
        raise ValueError(f"unsupported interval {interval!r} (use e.g. '1m', '1h')")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def _sql_macros(text: str, time_range: TimeRange) -> str:
    start, end = time_range.iso(time_range.start_ms), time_range.iso(time_range.end_ms)
    text = re.sub(r"\$__timeFilter\(([^)]+)\)", lambda m: f"{m.group(1).strip()} BETWEEN '{start}' AND '{end}'", text)
    text = text.replace("$__timeFrom()", f"'{start}'").replace("$__timeTo()", f"'{end}'")
    text = re.sub(r"\$__time\(([^)]+)\)", lambda m: f'{m.group(1).strip()} AS "time"', text)

    def group(match: re.Match[str]) -> str:
        column, interval = (part.strip() for part in match.group(1).split(",", 1))
        seconds = _seconds(interval)
        return f'floor(extract(epoch from {column})/{seconds})*{seconds} AS "time"'

    return re.sub(r"\$__timeGroupAlias\(([^)]+)\)", group, text)


def interpolate(
    text: str,
    variables: Mapping[str, Sequence[str]],
    time_range: TimeRange,
    dialect: Dialect,
) -> str:
    """`text` as Grafana sends it to the data source, with every variable holding `variables[name]`."""
    text = text.replace("$__interval_ms", str(_seconds(time_range.interval) * 1000))
    text = text.replace("$__interval", time_range.interval)
    if dialect == "influxql":
        text = text.replace("$timeFilter", f"time >= {time_range.start_ms}ms and time <= {time_range.end_ms}ms")
    else:
        text = _sql_macros(text, time_range)
    if "$__" in text:
        raise ValueError(f"unsupported Grafana macro in {text!r}")

    def substitute(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        values = variables[name]  # KeyError: a variable nobody defined
        if not values:
            raise ValueError(f"variable {name!r} has no values")
        return _influx_value(values) if dialect == "influxql" else _sql_value(values)

    return _VARIABLE.sub(substitute, text)

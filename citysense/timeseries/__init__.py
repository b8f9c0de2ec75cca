"""Time-series storage: one small interface, an adapter per backend, chosen by URL scheme.

`sqlite:///path.db` is the embedded default; `influxdb://[user:pass@]host:8086/database` (or
`influxdbs://`, `?token=...&org=...` for InfluxDB 2.x and 3.x) is the full deployment's.
Every adapter passes the same conformance tests.
"""

from __future__ import annotations

from citysense.timeseries.base import DeviceTags, HealthPoint, TimeSeriesStore

__all__ = ["DeviceTags", "HealthPoint", "TimeSeriesStore", "open_store"]


def open_store(url: str) -> TimeSeriesStore:
    """The adapter for `url`; adapters are imported only when chosen."""
    scheme = url.split(":", 1)[0]
    if scheme == "sqlite":
        from citysense.timeseries.sqlite import SqliteStore

        return SqliteStore.from_url(url)
    if scheme in ("influxdb", "influxdbs"):
        from citysense.timeseries.influx import InfluxStore

        return InfluxStore.from_url(url)
    raise ValueError(f"no time-series adapter for {scheme!r} URLs (known: sqlite, influxdb, influxdbs)")

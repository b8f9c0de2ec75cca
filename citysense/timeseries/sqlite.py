"""The embedded time-series store: one SQLite file in WAL mode.

A `write` returns only after the transaction is committed with `synchronous=FULL`, which is
what lets ingest acknowledge MQTT messages right after it.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter
from pathlib import Path

import pandas as pd

from citysense.errors import StoreError
from citysense.timeseries.base import Bucket, DeviceTags, HealthPoint, HealthScope
from citysense.wire import Reading

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    device_id TEXT NOT NULL,
    quantity  TEXT NOT NULL,
    time_ms   INTEGER NOT NULL,
    value     REAL NOT NULL,
    PRIMARY KEY (device_id, quantity, time_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latest (
    device_id TEXT NOT NULL,
    quantity  TEXT NOT NULL,
    time_ms   INTEGER NOT NULL,
    value     REAL NOT NULL,
    PRIMARY KEY (device_id, quantity)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    district  TEXT NOT NULL,
    kind      TEXT NOT NULL,
    lat       REAL,
    lon       REAL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS health (
    scope   TEXT NOT NULL,
    source  TEXT NOT NULL,
    metric  TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    value   REAL NOT NULL,
    PRIMARY KEY (scope, source, metric, time_ms)
) WITHOUT ROWID;
"""

# Health points (citysense.timeseries.base.HealthPoint) live in their own table, never in `readings`.
_INSERT_HEALTH = "INSERT OR IGNORE INTO health (scope, source, metric, time_ms, value) VALUES (?, ?, ?, ?, ?)"

_UPSERT_DEVICE = """
INSERT INTO devices (device_id, district, kind, lat, lon) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (device_id) DO UPDATE SET
    district = excluded.district, kind = excluded.kind, lat = excluded.lat, lon = excluded.lon
"""

# Retention deletes one series per transaction, through the primary key (no time index to slow
# every insert down), so that a writer never waits long for the lock.
_EXPIRE_SERIES = "DELETE FROM readings WHERE device_id = ? AND quantity = ? AND time_ms < ?"

# Readings are bound as they are (device_id, quantity, value, time_ms), many rows per statement:
# SQLite's per-statement work, not the B-tree, is most of the cost of one-row inserts.
_COLUMNS = "(device_id, quantity, value, time_ms)"
_ROWS_PER_INSERT = 200
_INSERT_ONE = f"INSERT OR IGNORE INTO readings {_COLUMNS} VALUES (?, ?, ?, ?)"
_INSERT_MANY = f"INSERT OR IGNORE INTO readings {_COLUMNS} VALUES " + ", ".join(["(?, ?, ?, ?)"] * _ROWS_PER_INSERT)

# `latest` follows the newest stored reading of each series the batch touched: one primary-key
# seek per series, cheaper than finding the newest among the batch's readings in Python.
_UPSERT_LATEST = """
INSERT INTO latest (device_id, quantity, value, time_ms)
SELECT device_id, quantity, value, time_ms FROM readings WHERE device_id = ? AND quantity = ?
ORDER BY time_ms DESC LIMIT 1
ON CONFLICT (device_id, quantity) DO UPDATE SET time_ms = excluded.time_ms, value = excluded.value
WHERE excluded.time_ms > latest.time_ms
"""
_SERIES = itemgetter(0, 1)
_VALUE = itemgetter(2)


_DeviceRow = tuple[str, str, str, float | None, float | None]


class SqliteStore:
    """Thread-safe: one connection behind a lock, as SQLite allows one writer at a time anyway."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._devices: dict[str, DeviceTags] = {}

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        prefix = "sqlite:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise ValueError(f"SQLite store URL must be sqlite:///path/to/file.db, got {url!r}")
        return cls(Path(url[len(prefix) :]))

    def write(self, readings: Sequence[Reading], *, devices: Mapping[str, DeviceTags] | None = None) -> int:
        if not readings:
            return 0
        if not all(map(math.isfinite, map(_VALUE, readings))):
            # SQLite would store NaN as NULL, which OR IGNORE would drop without a word.
            raise StoreError(f"SQLite store {self.path} refuses a non-finite value", retryable=False)
        series = set(map(_SERIES, readings))
        changed = self._changed_devices(devices) if devices else []
        full = len(readings) - len(readings) % _ROWS_PER_INSERT
        chunks = [
            tuple(chain.from_iterable(readings[i : i + _ROWS_PER_INSERT])) for i in range(0, full, _ROWS_PER_INSERT)
        ]
        with self._lock:
            try:
                before = self._db.total_changes
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(_INSERT_MANY, chunks)
                self._db.executemany(_INSERT_ONE, readings[full:])
                stored = self._db.total_changes - before
                self._db.executemany(_UPSERT_LATEST, series)
                if changed:
                    self._db.executemany(_UPSERT_DEVICE, changed)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                retryable = isinstance(exc, sqlite3.OperationalError)
                raise StoreError(f"SQLite write to {self.path} failed: {exc}", retryable=retryable) from exc
        if devices:
            for device_id, *_ in changed:
                self._devices[device_id] = devices[device_id]
        return stored

    def _changed_devices(self, devices: Mapping[str, DeviceTags]) -> list[_DeviceRow]:
        """Registry rows that differ from what this store last wrote (usually none)."""
        return [
            (device_id, t.district, t.kind, t.lat, t.lon)
            for device_id, t in devices.items()
            if self._devices.get(device_id) != t
        ]

    def device_tags(self) -> dict[str, DeviceTags]:
        """The registry metadata stored with the readings, by device."""
        with self._lock:
            rows = self._db.execute("SELECT device_id, district, kind, lat, lon FROM devices").fetchall()
        return {d: DeviceTags(district, kind, lat, lon) for d, district, kind, lat, lon in rows}

    def expire(self, max_age_s: float, *, now_ms: int | None = None) -> int:
        """Delete readings older than `max_age_s`, one series per short transaction."""
        if max_age_s <= 0:
            raise ValueError("max_age_s must be positive")
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        cutoff = now_ms - int(max_age_s * 1000)
        with self._lock:
            series = self._db.execute("SELECT device_id, quantity FROM latest").fetchall()
        removed = 0
        for device_id, quantity in series:
            with self._lock:
                before = self._db.total_changes
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(_EXPIRE_SERIES, (device_id, quantity, cutoff))
                removed += self._db.total_changes - before
                # A series silent for longer than the retention has no latest value either.
                self._db.execute(
                    "DELETE FROM latest WHERE device_id = ? AND quantity = ? AND time_ms < ?",
                    (device_id, quantity, cutoff),
                )
                self._db.execute("COMMIT")
        with self._lock:
            # Health points are few (one per node and metric a minute at most): one statement.
            before = self._db.total_changes
            self._db.execute("DELETE FROM health WHERE time_ms < ?", (cutoff,))
            removed += self._db.total_changes - before
        return removed

    def write_health(self, points: Sequence[HealthPoint]) -> int:
        if not points:
            return 0
        if not all(math.isfinite(p.value) for p in points):
            raise StoreError(f"SQLite store {self.path} refuses a non-finite health value", retryable=False)
        rows = [(p.scope, p.source, p.metric, p.time_ms, p.value) for p in points]
        with self._lock:
            try:
                before = self._db.total_changes
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(_INSERT_HEALTH, rows)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                retryable = isinstance(exc, sqlite3.OperationalError)
                raise StoreError(f"SQLite health write to {self.path} failed: {exc}", retryable=retryable) from exc
            return self._db.total_changes - before

    def read_health(
        self, *, scope: HealthScope, metric: str, start_ms: int, end_ms: int, source: str | None = None
    ) -> list[HealthPoint]:
        sql = (
            "SELECT source, time_ms, value FROM health WHERE scope = ? AND metric = ? AND time_ms >= ? AND time_ms < ?"
        )
        params: tuple[str | int, ...] = (scope, metric, start_ms, end_ms)
        if source is not None:
            sql += " AND source = ?"
            params += (source,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY source, time_ms", params).fetchall()
        return [HealthPoint(scope, src, metric, float(v), int(t)) for src, t, v in rows]

    def latest(self, *, quantity: str | None = None) -> list[Reading]:
        sql = "SELECT device_id, quantity, value, time_ms FROM latest"
        params: tuple[str, ...] = ()
        if quantity is not None:
            sql += " WHERE quantity = ?"
            params = (quantity,)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [Reading(d, q, v, t) for d, q, v, t in rows]

    def read_range(
        self,
        *,
        device_id: str,
        quantity: str,
        start_ms: int,
        end_ms: int,
        bucket_s: int | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        where = "WHERE device_id = :device AND quantity = :quantity AND time_ms >= :start AND time_ms < :end"
        params: dict[str, str | int] = {
            "device": device_id,
            "quantity": quantity,
            "start": start_ms,
            "end": end_ms,
        }
        if bucket_s is None:
            sql = f"SELECT time_ms, value FROM readings {where} ORDER BY time_ms"
            columns = ["time_ms", "value"]
        else:
            if bucket_s <= 0:
                raise ValueError("bucket_s must be positive")
            params["width"] = bucket_s * 1000
            sql = (
                "SELECT (time_ms / :width) * :width AS bucket, avg(value), min(value), max(value), count(*)"
                f" FROM readings {where} GROUP BY bucket ORDER BY bucket"
            )
            columns = ["time_ms", "mean", "min", "max", "count"]
        if limit is not None:
            if limit < 0:
                raise ValueError("limit must not be negative")
            sql += " LIMIT :limit"
            params["limit"] = limit
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        frame = pd.DataFrame(rows, columns=columns)
        frame.index = pd.to_datetime(frame.pop("time_ms"), unit="ms", utc=True)
        frame.index.name = "time"
        return frame

    def read_buckets(
        self, *, device_ids: Sequence[str], quantity: str, start_ms: int, end_ms: int, bucket_s: int
    ) -> list[Bucket]:
        if bucket_s <= 0:
            raise ValueError("bucket_s must be positive")
        if not device_ids:
            return []
        # One primary-key range per device (device_id, quantity, time_ms): only the window's rows are read.
        marks = ", ".join("?" * len(device_ids))
        sql = (
            "SELECT device_id, (time_ms / ?) * ? AS bucket, avg(value), min(value), max(value), count(*)"
            f" FROM readings WHERE device_id IN ({marks}) AND quantity = ? AND time_ms >= ? AND time_ms < ?"
            " GROUP BY device_id, bucket ORDER BY device_id, bucket"
        )
        width = bucket_s * 1000
        with self._lock:
            rows = self._db.execute(sql, (width, width, *device_ids, quantity, start_ms, end_ms)).fetchall()
        return [(d, int(t), float(mean), float(low), float(high), int(n)) for d, t, mean, low, high, n in rows]

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM readings").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()

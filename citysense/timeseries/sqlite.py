"""The embedded time-series store: one SQLite file in WAL mode.

A `write` returns only after the transaction is committed with `synchronous=FULL`, which is
what lets ingest acknowledge MQTT messages right after it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from citysense.errors import StoreError
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
"""

_UPSERT_LATEST = """
INSERT INTO latest (device_id, quantity, time_ms, value) VALUES (?, ?, ?, ?)
ON CONFLICT (device_id, quantity) DO UPDATE SET time_ms = excluded.time_ms, value = excluded.value
WHERE excluded.time_ms > latest.time_ms
"""


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

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        prefix = "sqlite:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise ValueError(f"SQLite store URL must be sqlite:///path/to/file.db, got {url!r}")
        return cls(Path(url[len(prefix) :]))

    def write(self, readings: Sequence[Reading]) -> int:
        if not readings:
            return 0
        rows = [(r.device_id, r.quantity, r.time_ms, r.value) for r in readings]
        with self._lock:
            try:
                before = self._db.total_changes
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?)", rows)
                stored = self._db.total_changes - before
                self._db.executemany(_UPSERT_LATEST, rows)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                retryable = isinstance(exc, sqlite3.OperationalError)
                raise StoreError(f"SQLite write to {self.path} failed: {exc}", retryable=retryable) from exc
        return stored

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
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        frame = pd.DataFrame(rows, columns=columns)
        frame.index = pd.to_datetime(frame.pop("time_ms"), unit="ms", utc=True)
        frame.index.name = "time"
        return frame

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM readings").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()

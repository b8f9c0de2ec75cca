"""The on-disk store-and-forward queue: every pack is here before it is published.

SQLite in WAL mode with `synchronous=FULL`: a pack that `put()` returned for is on disk and
survives a kill -9 or a power cut. A pack leaves the queue only when the broker has acknowledged
it (QoS 1 PUBACK). The queue is bounded: at `max_packs` the oldest are dropped, and the drop is
counted (persistently), because a node offline for weeks must not fill its SD card.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DiskQueue", "QueuedPack"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS packs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms INTEGER NOT NULL,
    readings INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class QueuedPack:
    id: int
    readings: int
    payload: bytes


class DiskQueue:
    """Thread-safe: the sampler puts, the MQTT link peeks and acknowledges."""

    def __init__(self, path: Path, *, max_packs: int) -> None:
        if max_packs < 1:
            raise ValueError("max_packs must be at least 1")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_packs = max_packs
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._depth: int = self._db.execute("SELECT COUNT(*) FROM packs").fetchone()[0]

    # ------------------------------------------------------------------ writing

    def put(self, payload: bytes, readings: int) -> int:
        """Store one pack durably; returns its id. Drops the oldest packs beyond the bound."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "INSERT INTO packs (created_ms, readings, payload) VALUES (?, ?, ?)",
                    (int(time.time() * 1000), readings, payload),
                )
                depth = self._depth + 1
                excess = depth - self.max_packs
                if excess > 0:
                    dropped_packs, dropped_readings = self._db.execute(
                        "SELECT COUNT(*), COALESCE(SUM(readings), 0) FROM"
                        " (SELECT readings FROM packs ORDER BY id LIMIT ?)",
                        (excess,),
                    ).fetchone()
                    self._db.execute(
                        "DELETE FROM packs WHERE id IN (SELECT id FROM packs ORDER BY id LIMIT ?)", (excess,)
                    )
                    self._bump("dropped_packs", dropped_packs)
                    self._bump("dropped_readings", dropped_readings)
                    depth -= dropped_packs
                self._bump("queued_packs", 1)
                self._bump("queued_readings", readings)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._depth = depth
            return int(cursor.lastrowid or 0)

    def ack(self, ids: list[int]) -> int:
        """Forget packs the broker has; returns how many were still here."""
        if not ids:
            return 0
        with self._lock:
            marks = ",".join("?" * len(ids))
            removed = self._db.execute(f"DELETE FROM packs WHERE id IN ({marks})", ids).rowcount
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES ('acked_packs', ?)"
                " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (removed,),
            )
            self._depth -= removed
            return int(removed)

    def _bump(self, name: str, by: int) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
            (name, by, by),
        )

    # ------------------------------------------------------------------ reading

    def peek(self, *, after_id: int = 0, up_to_id: int | None = None, limit: int = 100) -> list[QueuedPack]:
        """The oldest packs with after_id < id <= up_to_id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, readings, payload FROM packs WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
                (after_id, up_to_id if up_to_id is not None else 2**62, limit),
            ).fetchall()
        return [QueuedPack(int(i), int(n), bytes(p)) for i, n, p in rows]

    def last_id(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(id) FROM packs").fetchone()
        return int(row[0] or 0)

    @property
    def depth(self) -> int:
        return self._depth

    def counters(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM counters").fetchall()
        values = {"queued_packs": 0, "queued_readings": 0, "acked_packs": 0, "dropped_packs": 0, "dropped_readings": 0}
        values.update({str(n): int(v) for n, v in rows})
        values["depth"] = self._depth
        return values

    def close(self) -> None:
        with self._lock:
            self._db.close()

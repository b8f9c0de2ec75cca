"""The on-disk store-and-forward queue: every pack is here before it is published.

SQLite in WAL mode with `synchronous=FULL`: a pack that `put()` returned for is on disk and
survives a kill -9 or a power cut. A pack leaves the queue only when the broker has acknowledged
it (QoS 1 PUBACK). The queue is bounded: at `max_packs` the oldest are dropped, and the drop is
counted (persistently), because a node offline for weeks must not fill its SD card.

`durable=False` trades the power-cut guarantee for speed (`synchronous=OFF`: no fsync at all; a
killed process still loses nothing, the operating system has every write, but a power cut may),
and holds the file locked for this process alone (no file lock per transaction; nobody can
inspect the queue while it is open). It is for the simulators, which run hundreds of queues on
one machine at many times real time; a node keeps the default.

The packs this process put and the broker has not yet acknowledged are mirrored in memory (up to
`_TAIL_MAX`), so the link publishes a fresh pack without reading back from disk what was just written.
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
-- Counted by the statement that queues the pack: a put is one statement, one commit.
CREATE TRIGGER IF NOT EXISTS count_queued AFTER INSERT ON packs BEGIN
    INSERT INTO counters (name, value) VALUES ('queued_packs', 1), ('queued_readings', NEW.readings)
        ON CONFLICT(name) DO UPDATE SET value = value + excluded.value;
END;
"""
_INSERT = "INSERT INTO packs (created_ms, readings, payload) VALUES (?, ?, ?)"
_TAIL_MAX = 256


@dataclass(frozen=True, slots=True)
class QueuedPack:
    id: int
    readings: int
    payload: bytes


class DiskQueue:
    """Thread-safe: the sampler puts, the MQTT link peeks and acknowledges."""

    def __init__(self, path: Path, *, max_packs: int, durable: bool = True) -> None:
        if max_packs < 1:
            raise ValueError("max_packs must be at least 1")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_packs = max_packs
        self.durable = durable
        # One condition guards the connection and lets `wait_empty` sleep until the last ack.
        self._lock = threading.Condition()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        if durable:
            self._db.execute("PRAGMA synchronous=FULL")
        else:  # before the journal mode: creating the file would sync, and take shared-memory locks, too
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(f"BEGIN; {_SCHEMA} COMMIT;")
        depth, last_id = self._db.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM packs").fetchone()
        self._depth: int = depth
        self._last_id: int = last_id
        # The in-memory tail: every queued pack with id > _tail_from is in _tail, in id order.
        self._tail: dict[int, QueuedPack] = {}
        self._tail_from = self._last_id

    # ------------------------------------------------------------------ writing

    def put(self, payload: bytes, readings: int) -> int:
        """Store one pack (on disk when this returns, if durable); returns its id. Drops the oldest beyond the bound.

        Below the bound this is one INSERT (the trigger counts it): few statements per pack keep a
        small node's CPU and a simulator's hundreds of queues cheap.
        """
        with self._lock:
            row = (int(time.time() * 1000), readings, payload)
            if self._depth < self.max_packs:
                cursor = self._db.execute(_INSERT, row)
                self._depth += 1
                self._last_id = int(cursor.lastrowid or 0)
                self._tail[self._last_id] = QueuedPack(self._last_id, readings, payload)
                if len(self._tail) > _TAIL_MAX:
                    self._tail_from = self._tail.pop(next(iter(self._tail))).id
            else:
                cursor = self._put_dropping_oldest(row)
                self._last_id = self._tail_from = int(cursor.lastrowid or 0)
                self._tail.clear()  # some of it was dropped: read from disk until the tail refills
            return self._last_id

    def _put_dropping_oldest(self, row: tuple[int, int, bytes]) -> sqlite3.Cursor:
        """The queue is full: insert, drop the oldest packs beyond the bound and count them, atomically."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cursor = self._db.execute(_INSERT, row)
            excess = self._depth + 1 - self.max_packs
            dropped_packs, dropped_readings = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(readings), 0) FROM (SELECT readings FROM packs ORDER BY id LIMIT ?)",
                (excess,),
            ).fetchone()
            self._db.execute("DELETE FROM packs WHERE id IN (SELECT id FROM packs ORDER BY id LIMIT ?)", (excess,))
            self._bump("dropped_packs", dropped_packs)
            self._bump("dropped_readings", dropped_readings)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._depth += 1 - dropped_packs
        return cursor

    def ack(self, ids: list[int]) -> int:
        """Forget packs the broker has (one statement for a batch); returns how many were still here."""
        if not ids:
            return 0
        with self._lock:
            marks = ",".join("?" * len(ids))
            removed = int(self._db.execute(f"DELETE FROM packs WHERE id IN ({marks})", ids).rowcount)
            self._depth -= removed
            for pack_id in ids:
                self._tail.pop(pack_id, None)
            if self._depth == 0:
                self._lock.notify_all()
            return removed

    def _bump(self, name: str, by: int) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
            (name, by, by),
        )

    # ------------------------------------------------------------------ reading

    def peek(self, *, after_id: int = 0, up_to_id: int | None = None, limit: int = 100) -> list[QueuedPack]:
        """The oldest packs with after_id < id <= up_to_id."""
        up_to_id = up_to_id if up_to_id is not None else 2**62
        with self._lock:
            if after_id >= self._tail_from:
                return self._from_tail(after_id, up_to_id, limit)
            rows = self._db.execute(
                "SELECT id, readings, payload FROM packs WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
                (after_id, up_to_id, limit),
            ).fetchall()
        return [QueuedPack(int(i), int(n), bytes(p)) for i, n, p in rows]

    def _from_tail(self, after_id: int, up_to_id: int, limit: int) -> list[QueuedPack]:
        found: list[QueuedPack] = []
        for pack in self._tail.values():
            if pack.id > up_to_id or len(found) == limit:
                break
            if pack.id > after_id:
                found.append(pack)
        return found

    def last_id(self) -> int:
        """The newest pack's id (kept in memory: the link asks on every wake-up). Ids only grow."""
        return self._last_id

    @property
    def depth(self) -> int:
        return self._depth

    def wait_empty(self, timeout_s: float) -> bool:
        """Block until every pack has been acknowledged (depth 0); False if `timeout_s` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: self._depth == 0, timeout=timeout_s)

    def counters(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM counters").fetchall()
        values = {"queued_packs": 0, "queued_readings": 0, "dropped_packs": 0, "dropped_readings": 0}
        values.update({str(n): int(v) for n, v in rows})
        # Every pack that left the queue was either acknowledged or dropped: no counter to write per ack.
        values["acked_packs"] = values["queued_packs"] - values["dropped_packs"] - self._depth
        values["depth"] = self._depth
        return values

    def close(self) -> None:
        with self._lock:
            self._db.close()

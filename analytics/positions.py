"""Processed positions: per device, the newest reading whose findings are committed.

Written in batches (every `position_commit_s`) and when a process gives a partition back, read by
the process that takes the device over: it warms its detectors on the store up to the position
and replays (with findings) what came after it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from citysense.db.models import AnalyticsPosition

__all__ = ["Positions"]


class Positions:
    """Thread-safe: the MQTT thread advances positions, the timer commits them."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self._current: dict[str, int] = {}
        self._dirty: set[str] = set()

    def load(self, devices: Iterable[str]) -> dict[str, int]:
        """The committed positions of these devices (absent: never processed)."""
        wanted = list(devices)
        found: dict[str, int] = {}
        with self._sessions() as session:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = session.execute(
                    select(AnalyticsPosition.device_id, AnalyticsPosition.time_ms).where(
                        AnalyticsPosition.device_id.in_(chunk)
                    )
                )
                found.update({device: int(time_ms) for device, time_ms in rows})
        with self._lock:
            self._current.update(found)
        return found

    def advance(self, device_id: str, time_ms: int) -> None:
        with self._lock:
            if time_ms > self._current.get(device_id, -1):
                self._current[device_id] = time_ms
                self._dirty.add(device_id)

    def get(self, device_id: str) -> int | None:
        with self._lock:
            return self._current.get(device_id)

    def forget(self, devices: Iterable[str]) -> None:
        with self._lock:
            for device in devices:
                self._current.pop(device, None)
                self._dirty.discard(device)

    def commit(self, devices: Iterable[str] | None = None) -> int:
        """Write the positions that moved (of `devices`, or all); how many were written."""
        with self._lock:
            chosen = self._dirty if devices is None else self._dirty.intersection(devices)
            moved = sorted(chosen)
            rows = [{"device_id": d, "time_ms": self._current[d], "updated_at": datetime.now(UTC)} for d in moved]
            self._dirty.difference_update(moved)
        if not rows:
            return 0
        try:
            with self._sessions.begin() as session:
                dialect = session.get_bind().dialect.name
                insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
                statement = insert(AnalyticsPosition).values(rows)
                session.execute(
                    statement.on_conflict_do_update(
                        index_elements=["device_id"],
                        set_={"time_ms": statement.excluded.time_ms, "updated_at": statement.excluded.updated_at},
                    )
                )
        except Exception:
            with self._lock:
                self._dirty.update(moved)
            raise
        return len(rows)

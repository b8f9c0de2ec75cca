"""Which analytics process owns which devices: partitions leased through PostgreSQL advisory locks.

Devices are hashed into a fixed number of partitions. Each process holds one session-level
advisory lock per partition it owns, on its own connection: PostgreSQL, which the deployment
already runs for tickets, is the coordinator. A lock is released when the process releases it or
when its connection ends (a killed process's socket closes, so at once), and only one session can
hold it: a device's readings reach exactly one process. Each process also holds one "member" lock,
so every process can count the others and take a fair share, ceil(partitions / members); one that
holds more than its share gives the rest back, one that holds less takes free ones.

With SQLite there is one process and it owns every partition (`SoleOwner`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import zlib
from dataclasses import dataclass, field
from typing import Protocol

import psycopg
from sqlalchemy.engine import make_url

__all__ = ["AdvisoryLeases", "Balance", "Leases", "SoleOwner", "leases_for", "partition_of"]

log = logging.getLogger(__name__)

# The first key of the two-key advisory locks: one namespace for partitions, one for members.
_PARTITION_LOCKS = 0x63730001  # "cs" 1
_MEMBER_LOCKS = 0x63730002
_MAX_MEMBERS = 1024


def partition_of(device_id: str, partitions: int) -> int:
    """A stable partition of a device: the same in every process, on every restart and platform."""
    return zlib.crc32(device_id.encode()) % partitions


@dataclass(slots=True)
class Balance:
    """The outcome of one balancing round: partitions just taken, and those to give back."""

    gained: list[int] = field(default_factory=list)
    to_release: list[int] = field(default_factory=list)


class Leases(Protocol):
    partitions: int
    held: set[int]

    def balance(self) -> Balance: ...
    def release(self, partition: int) -> None: ...
    def close(self) -> None: ...


class SoleOwner:
    """One process owns every partition (SQLite, or a single analytics process by design)."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.held: set[int] = set()

    def balance(self) -> Balance:
        gained = sorted(set(range(self.partitions)) - self.held)
        self.held.update(gained)
        return Balance(gained=gained)

    def release(self, partition: int) -> None:
        self.held.discard(partition)

    def close(self) -> None:
        self.held.clear()


def _libpq_url(sqlalchemy_url: str) -> str:
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class AdvisoryLeases:
    """Partition leases held as PostgreSQL session advisory locks on one dedicated connection.

    Raises psycopg errors when the connection breaks: the caller must then treat every partition
    as lost (another process may already hold it) and reconnect.
    """

    def __init__(self, tickets_url: str, partitions: int) -> None:
        self.partitions = partitions
        self.held: set[int] = set()
        self.member: int | None = None
        self._url = _libpq_url(tickets_url)
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self.held.clear()
            self.member = None
            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
        return self._conn

    def _try_lock(self, namespace: int, key: int) -> bool:
        row = self._connection().execute("SELECT pg_try_advisory_lock(%s, %s)", (namespace, key)).fetchone()
        return bool(row and row[0])

    def _join(self) -> None:
        if self.member is not None:
            return
        for slot in range(_MAX_MEMBERS):
            if self._try_lock(_MEMBER_LOCKS, slot):
                self.member = slot
                return
        raise RuntimeError(f"more than {_MAX_MEMBERS} analytics processes")

    def members(self) -> int:
        row = (
            self._connection()
            .execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND granted"
                " AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                (_MEMBER_LOCKS,),
            )
            .fetchone()
        )
        return max(1, int(row[0])) if row else 1  # type: ignore[call-overload]

    def fair_share(self) -> int:
        return math.ceil(self.partitions / self.members())

    def balance(self) -> Balance:
        try:
            self._join()
            share = self.fair_share()
            result = Balance()
            if len(self.held) > share:
                result.to_release = sorted(self.held)[share:]
                return result
            # Start at this member's own offset so that joiners do not all race for partition 0.
            start = ((self.member or 0) * share) % self.partitions
            for step in range(self.partitions):
                if len(self.held) >= share:
                    break
                partition = (start + step) % self.partitions
                if partition not in self.held and self._try_lock(_PARTITION_LOCKS, partition):
                    self.held.add(partition)
                    result.gained.append(partition)
            return result
        except psycopg.Error:
            self._drop()
            raise

    def release(self, partition: int) -> None:
        if partition not in self.held:
            return
        self.held.discard(partition)
        try:
            self._connection().execute("SELECT pg_advisory_unlock(%s, %s)", (_PARTITION_LOCKS, partition))
        except psycopg.Error:
            self._drop()
            raise

    def _drop(self) -> None:
        """The connection is gone, and every lock with it."""
        self.held.clear()
        self.member = None
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        self._drop()


def leases_for(tickets_url: str, partitions: int) -> Leases:
    """Advisory-lock leases on PostgreSQL; with any other tickets database one process owns all."""
    if make_url(tickets_url).get_backend_name() == "postgresql":
        return AdvisoryLeases(tickets_url, partitions)
    return SoleOwner(partitions)

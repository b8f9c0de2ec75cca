"""The device registry as ingest sees it: device id -> district, kind and location.

Read from the relational database (the one `citysense devices` fills) and refreshed now and
then, so enrichment costs a dict lookup per message. A database without the devices table (a
fresh data folder) is an empty registry, not an error: readings of unknown devices are stored
without tags.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from citysense.timeseries import DeviceTags

__all__ = ["DeviceRegistry"]

log = logging.getLogger(__name__)


class DeviceRegistry:
    def __init__(self, tickets_url: str | None, *, refresh_s: float = 60.0) -> None:
        self.url = tickets_url
        self.refresh_s = refresh_s
        self._tags: dict[str, DeviceTags] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()
        self._warned = False
        self._sessions: Any = None  # a SQLAlchemy sessionmaker, made on first use
        # Since when (time.monotonic()) reading the registry fails, and how; None while it works.
        self.failing_since: float | None = None
        self.last_error = ""

    @classmethod
    def fixed(cls, tags: Mapping[str, DeviceTags]) -> DeviceRegistry:
        """A registry that never reads a database (benchmarks, tests of enrichment)."""
        registry = cls(None, refresh_s=float("inf"))
        registry._tags = dict(tags)
        registry._loaded_at = float("inf")
        return registry

    def tags(self) -> Mapping[str, DeviceTags]:
        """The current metadata by device, re-read when older than `refresh_s`."""
        if time.monotonic() - self._loaded_at >= self.refresh_s:
            with self._lock:
                if time.monotonic() - self._loaded_at >= self.refresh_s:
                    self._reload()
        return self._tags

    def _reload(self) -> None:
        self._loaded_at = time.monotonic()
        if self.url is None:
            return
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from citysense.db.engine import connect
        from citysense.db.models import Device

        try:
            if self._sessions is None:
                self._sessions = connect(self.url, upgrade=False)
            with self._sessions() as session:
                rows = session.execute(select(Device.id, Device.district, Device.kind, Device.lat, Device.lon)).all()
        except SQLAlchemyError as exc:
            if _missing_table(exc):
                if not self._warned:
                    log.info("no device registry at %s yet: storing readings without district and kind", self.url)
                    self._warned = True
                self._ok()
                return
            # Keep the last known metadata, say so every time, and let the supervisor decide when
            # a registry that keeps failing makes ingest broken (CITYSENSE_STORE_OUTAGE_S).
            if self.failing_since is None:
                self.failing_since = time.monotonic()
            self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            log.warning("device registry at %s failed, keeping %d known devices: %s", self.url, len(self._tags),
                        self.last_error)  # fmt: skip
            return
        self._ok()
        self._tags = {d: DeviceTags(district, kind, lat, lon) for d, district, kind, lat, lon in rows}
        log.debug("device registry: %d devices", len(self._tags))

    def _ok(self) -> None:
        self.failing_since = None
        self.last_error = ""


def _missing_table(exc: Exception) -> bool:
    """A database without the devices table yet (a fresh data folder): an empty registry, not an error."""
    text = str(getattr(exc, "orig", exc))
    return "no such table" in text or type(getattr(exc, "orig", None)).__name__ == "UndefinedTable"

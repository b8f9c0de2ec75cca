"""The server-side services that log in to the broker, and the only rights beyond a device's.

This table is the one place that grants service rights. The ACL is written from it alone, never
from the device registry: a login the table does not name gets a device's rights on its own
topics (`cs/v1/{login}/...`) and nothing else, whichever registry database a command ran against.
Device ids may not take a service's name nor start with the reserved prefix, so a device can never
be given (or replace) a service's login.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from citysense import wire

__all__ = ["RESERVED_PREFIX", "SERVICES", "ServiceRole", "is_reserved_login"]

Access = Literal["read", "write", "readwrite"]

RESERVED_PREFIX: Final = "citysense-"


@dataclass(frozen=True, slots=True)
class ServiceRole:
    """A service login and the topics it may use (Mosquitto `topic <access> <filter>` lines)."""

    name: str
    purpose: str
    topics: tuple[tuple[Access, str], ...]


_ANY_STATUS: Final = wire.STATUS_FILTER
_ANY_CONFIG: Final = wire.CONFIG_FILTER

SERVICES: Final[dict[str, ServiceRole]] = {
    role.name: role
    for role in (
        ServiceRole(
            "citysense-ingest",
            "ingest workers: read every device's readings and status, write dead letters",
            (("read", wire.READINGS_FILTER), ("read", _ANY_STATUS), ("write", wire.DEADLETTER_TOPIC)),
        ),
        ServiceRole(
            "citysense-analytics",
            "analytics: read readings and status, publish ticket events",
            (("read", wire.READINGS_FILTER), ("read", _ANY_STATUS), ("readwrite", wire.TICKETS_TOPIC)),
        ),
        ServiceRole(
            "citysense-operator",
            "operators' tools: push retained device configs, watch status, dead letters and tickets",
            (
                ("readwrite", _ANY_CONFIG),
                ("read", _ANY_STATUS),
                ("read", wire.DEADLETTER_TOPIC),
                ("read", wire.TICKETS_TOPIC),
            ),
        ),
    )
}


def is_reserved_login(name: str) -> bool:
    """True for a service's name and anything that could be mistaken for one (any case)."""
    folded = name.casefold()
    return folded.startswith(RESERVED_PREFIX) or any(folded == s.casefold() for s in SERVICES)

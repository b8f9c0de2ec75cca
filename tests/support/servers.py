"""Kept so that `from tests.support.servers import ...` keeps working: the code lives in
`testbed.servers`, shared with the benchmarks."""

from testbed.servers import (
    POSTGRES_ADMIN,
    Mosquitto,
    free_port,
    mosquitto,
    mosquitto_binary,
    postgres_database,
    wait_for_port,
)

__all__ = [
    "POSTGRES_ADMIN",
    "Mosquitto",
    "free_port",
    "mosquitto",
    "mosquitto_binary",
    "postgres_database",
    "wait_for_port",
]

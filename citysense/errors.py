"""One base error for citysense; subclasses carry what a caller needs to decide what to do."""

from __future__ import annotations

__all__ = ["BrokerUnavailableError", "CitysenseError", "StoreError"]


class CitysenseError(Exception):
    """Base of every error citysense raises on purpose; the CLI turns it into a message and exit code 1."""


class BrokerUnavailableError(CitysenseError):
    """The MQTT broker refused us or could not be reached."""


class StoreError(CitysenseError):
    """A storage backend failed. `retryable` says whether trying the same write again may succeed."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable

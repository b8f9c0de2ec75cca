"""The detector library: one small interface, high score = anomalous.

Every streaming detector watches one series (or one group of series) and has two methods,
as River's do: `learn_one(x)` takes a reading into its state and `score_one(x)` says how
anomalous a reading is without changing anything. Scores are finite and non-negative; a score
of 1.0 or more is what each detector calls anomalous, so deciding stays separate and simple
(the engine compares to 1.0, the ticket policy decides what becomes a ticket).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from citysense.wire import Reading

__all__ = ["Detector"]


@runtime_checkable
class Detector(Protocol):
    """A streaming detector: learn from a reading, score a reading (high = anomalous, >= 1 = alarm)."""

    name: str

    def learn_one(self, x: Reading) -> None: ...

    def score_one(self, x: Reading) -> float: ...

"""Learning held back a while, so that what turns out to be a lasting alarm is learned as one.

An anomaly rarely alarms on its first reading: a party's noise climbs for a quarter of an hour, a
blocked road's counter sinks for half an hour, a new night-time source of smoke swells over hours.
Whatever learns those readings at once (a calibrator's history of raw scores, an hour's usual
spread, a cycle's slot) takes the start of the anomaly for normal before the alarm comes, and then
judges the rest of it, and its next occurrence, by a yardstick it stretched itself. Held back for a
delay, the readings of an excursion that becomes a lasting alarm are learned at that alarm's small
weight (`incident`), the climb to it included; those before a short one, normal data's rare moment,
are learned at the weight they came with, so nothing can thin itself into ever more alarms.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

__all__ = ["HeldBack", "young_delay"]

# A young learner holds back at most this share of what it has learned: its history is its first
# readings, and holding those back too would leave it judging (or expecting) by almost nothing.
_YOUNG_SHARE = 0.1


def young_delay(delay: int, learned: float) -> int:
    """The delay a learner that has learned `learned` readings holds back: `delay`, or less while young."""
    return min(delay, int(learned * _YOUNG_SHARE))


class HeldBack:
    """Items waiting to be learned, oldest first; each item's first number is its weight (1.0 in full)."""

    __slots__ = ("fresh", "items")

    def __init__(self, items: Iterable[list[float]] = (), fresh: int | None = None) -> None:
        self.items: deque[list[float]] = deque(items)
        # The newest this many came since the last `incident`: only they can weigh more than it.
        # (A state saved before `fresh` was: the full-weight items, nearly always the same.)
        self.fresh = sum(1 for item in self.items if item[0] >= 1.0) if fresh is None else min(fresh, len(self.items))

    def add(self, item: list[float], delay: int) -> Sequence[list[float]]:
        """Queue an item; return those now more than `delay` items old, oldest first (to learn now)."""
        items = self.items
        items.append(item)
        self.fresh += 1
        if len(items) <= delay:  # nothing due (and `fresh` can be no more than the items it counts)
            return ()
        due = []
        while len(items) > delay:
            due.append(items.popleft())
        if self.fresh > len(items):
            self.fresh = len(items)
        return due

    def incident(self, weight: float) -> None:
        """The items still queued belong to a lasting alarm: learn them at no more than `weight`.

        Only those that came since the last call can be above it: within one alarm the weight only
        grows, and the items before it were lowered by the last alarm or came at their own weight.
        """
        items = self.items
        for k in range(len(items) - self.fresh, len(items)):
            item = items[k]
            if item[0] > weight:
                item[0] = weight
        self.fresh = 0

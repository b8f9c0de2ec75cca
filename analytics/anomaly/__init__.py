"""One general streaming anomaly detector for any numeric series.

    from analytics.anomaly import make_detector
    det = make_detector()
    score = det.update(timestamp, value)   # in [0, 1]; >= 0.5 means alarm
    saved = pack_state(det.state())        # later: make_detector(state=saved)

It needs no unit, range or sampling interval; `value` is a float or a mapping of one device's
channels (NaN and infinities are skipped; beyond +-1e100 a value counts as +-1e100; it scores alike
in any unit from about 1e-120 to 1e90). See `_detector.py` for how it scores and docs/detection.md for how well.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analytics.anomaly._detector import Detector, Expected
from analytics.anomaly._packed import pack_state, unpack_state
from analytics.localtime import DEFAULT_TIMEZONE

__all__ = ["ALARM", "Detector", "Expected", "make_detector", "pack_state", "unpack_state"]

ALARM = 0.5


def make_detector(
    *,
    budget: float = 0.01,
    memory: int = 1000,
    fast: int = 16,
    warmup: int = 30,
    timezone: str = DEFAULT_TIMEZONE,
    seasonal: bool = True,
    release: float = 10.0,
    change: float = 8.0,
    budget_interval: float | None = None,
    run_view: bool = False,
    state: Mapping[str, Any] | str | None = None,
) -> Detector:
    """A fresh detector, or one resumed from `Detector.state()`.

    Args:
        budget: the fraction of normal readings allowed to alarm (calibration target).
        memory: readings the slow baselines remember (the "long history").
        fast: readings in the fast mean that the slow one is compared with.
        warmup: readings before the first score above 0.
        timezone: IANA name for hour-of-day and day-of-week cycles (CITYSENSE_TIMEZONE).
        seasonal: look for daily and weekly cycles once a series spans more than a day.
        release: hysteresis; an alarm holds while the tail probability stays below release x budget.
        change: CUSUM level, in residual sigmas, at which a change is marked (a fresh alarm onset).
        budget_interval: seconds; when set, `budget` is the fraction of a series read once per this
            interval, and a series read k times as seldom may alarm on k times the fraction of its
            readings (its interval is the median gap of its first `warmup` readings): the same
            false alarms per day whatever the reading rate. None: `budget` is per reading.
        run_view: also judge a run of readings, not only each one, in its hour's own spread (a fast
            mean of the signed departures; a fifth view, with a daily or weekly cycle in use): an
            hour at three spreads is rarer than any one reading at three spreads.
        state: what `Detector.state()` returned (or `pack_state` of it), to resume after a restart.
    """
    det = Detector(
        budget=budget,
        memory=memory,
        fast=fast,
        warmup=warmup,
        timezone=timezone,
        seasonal=seasonal,
        release=release,
        change=change,
        budget_interval=budget_interval,
        run_view=run_view,
    )
    if state is not None:
        det.restore(state)
    return det

"""The tipping-bucket gauge on gpiozero's mock pins: the same edge handling a Pi's GPIO runs."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from edge.drivers.rain_gauge import RainGauge, TipCounter


def test_each_tip_is_counted_once_and_reported_as_rain_since_the_last_read():
    factory = MockFactory()
    gauge = RainGauge(pin=6, mm_per_tip=0.2794, bounce_s=None, pin_factory=factory)
    pin = factory.pin(6)
    try:
        for _ in range(5):
            pin.drive_low()  # the reed switch closes as the bucket tips
            pin.drive_high()
        assert gauge.read() == {"rainfall": round(5 * 0.2794, 4)}
        assert gauge.read() == {"rainfall": 0.0}
        assert gauge.counter.total_tips == 5
    finally:
        gauge.close()


def test_tip_counter_refuses_a_nonsense_calibration():
    with pytest.raises(ValueError, match="positive"):
        TipCounter(0)

"""Kept so that `from tests.support.mqtt import ...` keeps working: the code lives in `testbed.mqtt`,
shared with the benchmarks."""

from testbed.mqtt import Collector, listening, publish, wait_until

__all__ = ["Collector", "listening", "publish", "wait_until"]

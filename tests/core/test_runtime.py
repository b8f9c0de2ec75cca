"""A service process asked to stop while it is still starting stops cleanly (exit 0), not killed."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mqtt import wait_until

SCRIPT = """
import sys, time
from pathlib import Path
from citysense.runtime import run_until_signal

marks = Path(sys.argv[1])

class Quick:
    def start(self): marks.write_text(marks.read_text() + "quick started\\n")
    def stop(self): marks.write_text(marks.read_text() + "quick stopped\\n")

class Slow:
    def start(self): time.sleep(3)  # still starting when the stop is asked for
    def stop(self): marks.write_text(marks.read_text() + "slow stopped\\n")

def own_wait():  # a foreground with signal handling of its own, as the API server's
    marks.write_text(marks.read_text() + "foreground ran\\n")

run_until_signal([Quick(), Slow()], foreground=own_wait if sys.argv[2] == "foreground" else None)
"""


@pytest.mark.parametrize("mode", ["signals", "foreground"])
def test_a_stop_asked_for_while_a_service_is_still_starting_stops_what_started(tmp_path: Path, mode: str) -> None:
    """Analytics and the demo run with a foreground: their start-up was still unguarded."""
    marks = tmp_path / "marks"
    marks.write_text("")
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, str(marks), mode])
    try:
        wait_until(lambda: "quick started" in marks.read_text(), timeout_s=30, what="the first service started")
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0  # before, Python's default for SIGTERM: killed (-15), nothing stopped
    finally:
        if process.poll() is None:
            process.kill()
    assert marks.read_text().splitlines() == ["quick started", "slow stopped", "quick stopped"]

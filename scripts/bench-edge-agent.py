#!/usr/bin/env python3
"""Measure the edge agent's memory (RSS) and CPU while it samples at 1 Hz.

Starts a throwaway Mosquitto on a free loopback port, runs `citysense edge run` with virtual
sensors (four quantities, one sample a second each, median of 10 per report) for --seconds,
and reads /proc/<pid>/status and /proc/<pid>/stat. Prints one JSON line with the figures.

    .venv/bin/python scripts/bench-edge-agent.py --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """device_id = "bench-01"
[broker]
url = "mqtt://127.0.0.1:{port}"
[queue]
path = "{queue}"
{sensors}"""
SENSOR = """[[sensors]]
name = "{q}"
driver = "virtual"
quantity = "{q}"
base = 20.0
noise = 1.0
interval_s = 1.0
samples = 10
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    port = free_port()
    (work / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = subprocess.Popen([mosquitto, "-c", str(work / "mosquitto.conf")], stderr=subprocess.DEVNULL)
    sensors = "".join(SENSOR.format(q=q) for q in ("pm25", "pm10", "temperature", "humidity"))
    (work / "node.toml").write_text(CONFIG.format(port=port, queue=work / "queue.db", sensors=sensors))
    citysense = Path(sys.executable).with_name("citysense")
    agent = subprocess.Popen(
        [str(citysense), "edge", "run", "--config", str(work / "node.toml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(5)  # start-up (imports) is not the steady state
        cpu0, t0 = cpu_s(agent.pid), time.monotonic()
        peak = 0
        samples = []
        while time.monotonic() - t0 < args.seconds:
            time.sleep(1)
            samples.append(rss_kb(agent.pid))
            peak = max(peak, samples[-1])
        cpu1, t1 = cpu_s(agent.pid), time.monotonic()
        print(
            json.dumps(
                {
                    "seconds": round(t1 - t0, 1),
                    "rss_mib_median": round(sorted(samples)[len(samples) // 2] / 1024, 1),
                    "rss_mib_peak": round(peak / 1024, 1),
                    "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / (t1 - t0), 2),
                }
            )
        )
    finally:
        agent.terminate()
        agent.wait(10)
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

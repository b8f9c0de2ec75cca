"""The TOML file a newly provisioned device runs with (`citysense edge run --config FILE`).

Sensors are chosen from the device's kind, with the wiring the Pi guide describes; the operator
edits ports or pins when a node is wired differently.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

__all__ = ["render_device_config", "write_secret"]

_SENSORS: dict[str, list[tuple[str, ...]]] = {
    "air": [
        ('name = "air"', 'driver = "sds011"', 'port = "/dev/serial0"', "interval_s = 1.0", "samples = 10"),
        ('name = "climate"', 'driver = "bme280"', "bus = 1", "address = 0x76", "interval_s = 5.0", "samples = 12"),
    ],
    "water": [
        (
            'name = "level"',
            'driver = "ultrasonic"',
            'port = "/dev/serial0"',
            "mount_height_m = 4.0  # sensor face above the gauge datum: measure it at install",
            "interval_s = 1.0",
            "samples = 10",
        ),
    ],
    "rain": [
        (
            'name = "rain"',
            'driver = "rain_gauge"',
            "pin = 6",
            "mm_per_tip = 0.2794",
            "interval_s = 60.0",
            "samples = 1",
        ),
    ],
}


def _virtual(kind: str) -> list[tuple[str, ...]]:
    return [
        (
            f'name = "{kind}"',
            'driver = "virtual"',
            'quantity = "temperature"',
            "base = 28.0",
            "amplitude = 3.0",
            "interval_s = 1.0",
            "samples = 10",
        )
    ]


def render_device_config(device_id: str, *, broker_url: str, password: str, kind: str, ca_file: str | None) -> str:
    q = json.dumps  # TOML basic strings accept JSON string escapes
    lines = [
        f"# citysense edge agent for {device_id} ({kind}). Keep this file mode 0600: it holds the password.",
        f"device_id = {q(device_id)}",
        "",
        "[broker]",
        f"url = {q(broker_url)}",
        f"username = {q(device_id)}",
        f"password = {q(password)}",
    ]
    if ca_file:
        lines.append(f"ca_file = {q(ca_file)}")
    lines += [
        "",
        "[queue]",
        'path = "/var/lib/citysense-edge/queue.db"',
        "max_packs = 100000",
        "drain_per_s = 50",
        "",
    ]
    for sensor in _SENSORS.get(kind, _virtual(kind)):
        lines += ["[[sensors]]", *sensor, ""]
    return "\n".join(lines)


def write_secret(text: str, path: Path | None) -> None:
    """Write `text` to `path` created 0600 (an existing file is narrowed first), or to stdout.

    When stdout is a regular file (the shell's `> node.toml`, created with the umask's 0644) it is
    narrowed to 0600 before anything secret is written into it.
    """
    if path is None:
        sys.stdout.flush()
        try:
            fd: int | None = sys.stdout.fileno()
        except (OSError, ValueError):  # not a file descriptor (captured output): nothing on disk to narrow
            fd = None
        if fd is not None and stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text if text.endswith("\n") else text + "\n")

"""What a node says about itself on its retained status topic."""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["cpu_temperature_c", "disk_free_mb"]

_THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


def cpu_temperature_c(path: Path = _THERMAL_ZONE) -> float | None:
    """The SoC temperature on a Raspberry Pi (millidegrees in sysfs); None where there is no sensor."""
    try:
        return round(int(path.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def disk_free_mb(path: Path) -> float:
    """Free space where the queue lives: a full SD card is the one thing store-and-forward cannot survive."""
    target = path if path.exists() else path.parent
    return round(shutil.disk_usage(target).free / 1_048_576, 1)

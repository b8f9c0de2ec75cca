"""What a node says about itself on its retained status topic."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

__all__ = ["POWER_SUPPLY", "BatteryGauge", "cpu_temperature_c", "disk_free_mb"]

log = logging.getLogger(__name__)

_THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
# The kernel's power_supply class (Documentation/ABI/testing/sysfs-class-power): one folder per
# supply with `type` (Battery, Mains, USB, ...), `capacity` (percent), `scope` and `present`.
POWER_SUPPLY = Path("/sys/class/power_supply")
_PERCENT = re.compile(r"[0-9]{1,3}(\.[0-9]+)?")


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


def _percent(path: Path) -> tuple[float | None, str | None]:
    """A percentage from 0 to 100 read from a one-line file, or None and what is wrong with it."""
    try:
        with path.open("rb") as file:
            raw = file.read(64)
    except OSError as exc:
        return None, f"cannot read it ({exc.strerror or exc})"
    text = raw.decode("ascii", errors="replace").strip()
    if _PERCENT.fullmatch(text) is None or float(text) > 100:
        return None, f"{text[:20]!r} is not a percentage from 0 to 100"
    return round(float(text), 1), None


def _attribute(supply: Path, name: str) -> str | None:
    try:
        return supply.joinpath(name).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def _system_batteries(root: Path) -> list[Path]:
    """The supplies under `root` that are the system's batteries, in name order.

    Skipped: supplies of another type (Mains, USB), batteries that power a peripheral rather than
    the node (`scope` Device: a wireless keyboard's), and batteries the driver says are absent.
    """
    try:
        supplies = sorted(root.iterdir(), key=lambda p: p.name)
    except OSError:
        return []  # no power_supply class at all: no battery
    return [
        supply
        for supply in supplies
        if _attribute(supply, "type") == "Battery"
        and _attribute(supply, "scope") != "Device"
        and _attribute(supply, "present") != "0"
    ]


class BatteryGauge:
    """The node's battery level for its status: `battery_pct`, or None when it has no battery.

    With `file` set (the `battery_file` config key) that file is the only source: it holds a
    percentage (`87` or `87.5`), written by the owner's HAT script or a link to a sysfs
    `capacity`. Otherwise the kernel's power_supply class under `power_supply` is read: the first
    system battery in name order (BAT0 before BAT1) whose `capacity` is a percentage. With neither
    there is no battery. A source that cannot be read or holds nonsense gives None, never an error,
    and is logged once (again only when what is wrong changes, or after it was fixed).
    """

    def __init__(self, *, file: Path | None = None, power_supply: Path | None = POWER_SUPPLY) -> None:
        self.file = file
        self.power_supply = power_supply
        self.source: str | None = None  # where the last level came from, for the log
        self._problem: str | None = None  # the last problem logged, so it is logged once

    def read(self) -> float | None:
        if self.file is not None:
            pct, problem = _percent(self.file)
            self._note(f"battery_file {self.file}", pct, problem)
            return pct
        if self.power_supply is None:
            return None
        first_problem = None
        for supply in _system_batteries(self.power_supply):
            pct, problem = _percent(supply / "capacity")
            if pct is not None:
                self._note(f"battery {supply.name} in {self.power_supply}", pct, None)
                return pct
            first_problem = first_problem or f"battery {supply.name} in {self.power_supply}: capacity {problem}"
        self._note(None, None, first_problem)
        return None

    def _note(self, source: str | None, pct: float | None, problem: str | None) -> None:
        if problem is not None:
            message = problem if source is None else f"{source}: {problem}"
            if message != self._problem:
                log.warning("%s; the status reports no battery", message)
                self._problem = message
            self.source = None
            return
        if pct is not None and source != self.source:
            log.info("battery level from %s: %.1f %%", source, pct)
        self.source, self._problem = (source if pct is not None else None), None

"""Ultrasonic water-level sensor on a UART (DFRobot A02YYUW / JSN-SR04T in mode 1, 9600 8N1).

Mounted on a bridge or pole looking down at the water, it streams 4-byte frames
`FF dist_hi dist_lo checksum` (distance in mm; checksum = low byte of the sum of the first three).
The water level is the mounting height above the gauge datum minus the measured distance.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from edge.drivers.base import DriverError
from edge.drivers.serial_frames import FrameParser

__all__ = ["UltrasonicLevel", "decode_frame", "encode_frame"]

HEADER = 0xFF
FRAME_LENGTH = 4


def decode_frame(frame: bytes) -> int | None:
    """The distance in millimetres, or None when the frame is malformed."""
    if len(frame) != FRAME_LENGTH or frame[0] != HEADER or sum(frame[:3]) & 0xFF != frame[3]:
        return None
    return frame[1] << 8 | frame[2]


def encode_frame(distance_mm: int) -> bytes:
    body = bytes([HEADER, distance_mm >> 8 & 0xFF, distance_mm & 0xFF])
    return body + bytes([sum(body) & 0xFF])


class UltrasonicLevel:
    quantities: tuple[str, ...] = ("water_level",)

    def __init__(
        self,
        port: str,
        *,
        mount_height_m: float,
        min_distance_mm: int = 30,
        max_distance_mm: int = 4500,
        timeout_s: float = 1.5,
        serial_factory: Any = None,
    ) -> None:
        import serial

        factory = serial_factory or serial.Serial
        self._serial = factory(port, baudrate=9600, timeout=0.1)
        self._mount_height_m = mount_height_m
        self._range = (min_distance_mm, max_distance_mm)
        self._timeout_s = timeout_s
        self._parser: FrameParser[int] = FrameParser(HEADER, FRAME_LENGTH, decode_frame)

    @property
    def counters(self) -> dict[str, int]:
        return self._parser.counters.snapshot()

    def read(self) -> dict[str, float]:
        """The median of the in-range distances received since the last read (echoes off debris vary)."""
        deadline = time.monotonic() + self._timeout_s
        distances: list[int] = []
        while True:
            waiting = max(int(self._serial.in_waiting), 1)
            for distance in self._parser.feed(bytes(self._serial.read(waiting))):
                if self._range[0] <= distance <= self._range[1]:
                    distances.append(distance)
            if distances and not self._serial.in_waiting:
                return {"water_level": round(self._mount_height_m - statistics.median(distances) / 1000.0, 4)}
            if time.monotonic() > deadline:
                raise DriverError(f"no in-range ultrasonic frame within {self._timeout_s:.1f}s ({self.counters})")

    def close(self) -> None:
        self._serial.close()

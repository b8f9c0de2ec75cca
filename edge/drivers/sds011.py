"""Nova Fitness SDS011 particulate sensor on a UART (9600 8N1), in its default active mode.

The sensor sends one 10-byte frame a second:
`AA C0 pm25_lo pm25_hi pm10_lo pm10_hi id1 id2 checksum AB`, the checksum being the low byte of
the sum of bytes 2..7; values are tenths of ug/m3. A read takes the newest valid frame that
arrived since the last read, waiting up to `timeout_s` for one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from edge.drivers.base import DriverError
from edge.drivers.serial_frames import FrameParser

__all__ = ["Sds011", "Sds011Frame", "decode_frame", "encode_frame"]

HEADER = 0xAA
COMMAND_DATA = 0xC0
TAIL = 0xAB
FRAME_LENGTH = 10


@dataclass(frozen=True, slots=True)
class Sds011Frame:
    pm25: float
    pm10: float
    sensor_id: int


def decode_frame(frame: bytes) -> Sds011Frame | None:
    """One data frame, or None when it is malformed."""
    if len(frame) != FRAME_LENGTH or frame[0] != HEADER or frame[1] != COMMAND_DATA or frame[9] != TAIL:
        return None
    if sum(frame[2:8]) & 0xFF != frame[8]:
        return None
    pm25 = (frame[2] | frame[3] << 8) / 10.0
    pm10 = (frame[4] | frame[5] << 8) / 10.0
    return Sds011Frame(pm25=pm25, pm10=pm10, sensor_id=frame[6] | frame[7] << 8)


def encode_frame(pm25: float, pm10: float, sensor_id: int = 0xA1B2) -> bytes:
    """The frame a sensor sends for these values (used by the emulator in tests and the bench)."""
    body = bytes(
        [
            *round(pm25 * 10).to_bytes(2, "little"),
            *round(pm10 * 10).to_bytes(2, "little"),
            *sensor_id.to_bytes(2, "little"),
        ]
    )
    return bytes([HEADER, COMMAND_DATA, *body, sum(body) & 0xFF, TAIL])


class Sds011:
    quantities: tuple[str, ...] = ("pm25", "pm10")

    def __init__(self, port: str, *, timeout_s: float = 2.5, serial_factory: Any = None) -> None:
        import serial  # pyserial: in the edge extra, imported here so the interface loads without it

        factory = serial_factory or serial.Serial
        self._serial = factory(port, baudrate=9600, bytesize=8, parity="N", stopbits=1, timeout=0.2)
        self._timeout_s = timeout_s
        self._parser: FrameParser[Sds011Frame] = FrameParser(HEADER, FRAME_LENGTH, decode_frame)

    @property
    def counters(self) -> dict[str, int]:
        return self._parser.counters.snapshot()

    def read(self) -> dict[str, float]:
        deadline = time.monotonic() + self._timeout_s
        latest: Sds011Frame | None = None
        while True:
            waiting = max(int(self._serial.in_waiting), 1)
            frames = self._parser.feed(bytes(self._serial.read(waiting)))
            if frames:
                latest = frames[-1]
            if latest is not None and not self._serial.in_waiting:
                return {"pm25": latest.pm25, "pm10": latest.pm10}
            if time.monotonic() > deadline:
                raise DriverError(f"no valid SDS011 frame within {self._timeout_s:.1f}s ({self.counters})")

    def close(self) -> None:
        self._serial.close()

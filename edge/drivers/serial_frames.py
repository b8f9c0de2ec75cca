"""Fixed-length binary frames on a serial line: find the header, check, resynchronise on garbage.

Both UART sensors we support (SDS011, A02YYUW ultrasonic) send short frames with a header byte
and a checksum. The parser is fed whatever bytes arrived and keeps a partial frame for next time,
so a frame split across reads still parses, and a corrupted one costs only itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from edge.drivers.base import FrameCounters

__all__ = ["FrameParser"]

T = TypeVar("T")


class FrameParser(Generic[T]):
    """Splits a byte stream into frames of `length` bytes starting with `header`.

    `decode(frame)` returns a value, or None when the frame is malformed (bad checksum, tail,
    command byte); malformed frames are counted and the search resumes one byte later.
    """

    def __init__(self, header: int, length: int, decode: Callable[[bytes], T | None]) -> None:
        self._header = header
        self._length = length
        self._decode = decode
        self._buffer = bytearray()
        self.counters = FrameCounters()

    def feed(self, data: bytes) -> list[T]:
        self._buffer.extend(data)
        values: list[T] = []
        while True:
            start = self._buffer.find(self._header)
            if start < 0:
                self._buffer.clear()
                return values
            if start > 0:
                del self._buffer[:start]
            if len(self._buffer) < self._length:
                return values
            frame = bytes(self._buffer[: self._length])
            value = self._decode(frame)
            if value is None:
                self.counters.frames_rejected += 1
                del self._buffer[:1]  # resynchronise: the next header may be inside this frame
                continue
            self.counters.frames_ok += 1
            values.append(value)
            del self._buffer[: self._length]

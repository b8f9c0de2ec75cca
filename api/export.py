"""Paging the open-data export before building it: each page reads only its own buckets.

The export is a grid of slots, one per (sensor, bucket), sensors in id order and buckets in time
order. A page is a run of `limit` consecutive slots; its rows are the slots where the sensor
reported. Where a page starts and ends follows from arithmetic alone, so a page costs the same
whether it is the first or the last, and whatever the size of the city: at most a handful of
store queries over a window of `limit` buckets (a partial first sensor, whole sensors in between,
a partial last sensor). A silent stretch makes a page shorter, never more expensive.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from citysense.timeseries import TimeSeriesStore
from citysense.timeseries.base import Bucket

__all__ = ["ExportGrid", "Window"]

# Devices per store query: keeps an InfluxQL statement or a SQLite parameter list short.
_DEVICES_PER_QUERY = 200


@dataclass(frozen=True, slots=True)
class Window:
    """Some sensors' buckets over one time window: one store query."""

    device_ids: tuple[str, ...]
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class ExportGrid:
    """The slots of one export: `devices` (in id order) by the buckets of [start_ms, end_ms)."""

    devices: tuple[str, ...]
    start_ms: int
    end_ms: int
    bucket_s: int

    @property
    def width_ms(self) -> int:
        return self.bucket_s * 1000

    @property
    def first_bucket_ms(self) -> int:
        """Buckets are aligned to the epoch, as both stores align them."""
        return self.start_ms // self.width_ms * self.width_ms

    @property
    def buckets_per_device(self) -> int:
        return max(0, math.ceil((self.end_ms - self.first_bucket_ms) / self.width_ms))

    @property
    def slots(self) -> int:
        return len(self.devices) * self.buckets_per_device

    def windows(self, offset: int, limit: int) -> Iterator[Window]:
        """The store queries of the page of slots [offset, offset + limit)."""
        per_device = self.buckets_per_device
        end = min(offset + limit, self.slots)
        slot = offset
        whole: list[str] = []
        while slot < end:
            device, bucket = divmod(slot, per_device)
            last = min(per_device, bucket + (end - slot))  # exclusive
            if bucket == 0 and last == per_device:
                whole.append(self.devices[device])
            else:
                yield from self._whole(whole)
                whole = []
                yield Window((self.devices[device],), self._edge(bucket), self._edge(last))
            slot += last - bucket
        yield from self._whole(whole)

    def _whole(self, devices: Sequence[str]) -> Iterator[Window]:
        for i in range(0, len(devices), _DEVICES_PER_QUERY):
            yield Window(tuple(devices[i : i + _DEVICES_PER_QUERY]), self.start_ms, self.end_ms)

    def _edge(self, bucket: int) -> int:
        return min(self.end_ms, max(self.start_ms, self.first_bucket_ms + bucket * self.width_ms))

    def read_page(self, store: TimeSeriesStore, quantity: str, offset: int, limit: int) -> list[Bucket]:
        """The page's rows, by sensor then time."""
        rows: list[Bucket] = []
        for window in self.windows(offset, limit):
            rows += store.read_buckets(
                device_ids=window.device_ids,
                quantity=quantity,
                start_ms=window.start_ms,
                end_ms=window.end_ms,
                bucket_s=self.bucket_s,
            )
        return rows

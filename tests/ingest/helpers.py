"""Streams of readings with known identities, and checks that a store holds exactly them."""

from __future__ import annotations

import time

from citysense import wire
from citysense.timeseries import TimeSeriesStore


def stream(devices: int, packs: int, pack_size: int, *, start_ms: int | None = None) -> dict[str, list[bytes]]:
    """Per device topic, `packs` SenML packs of `pack_size` distinct readings each."""
    start_ms = int(time.time() * 1000) - 3_600_000 if start_ms is None else start_ms
    out: dict[str, list[bytes]] = {}
    for d in range(devices):
        device = f"dev-{d}"
        out[wire.readings_topic(device)] = [
            wire.build_pack(
                device,
                [
                    wire.Reading(device, "pm25", float(k % 500), start_ms + (p * pack_size + k) * 10)
                    for k in range(pack_size)
                ],
            )
            for p in range(packs)
        ]
    return out


def keys_in(store: TimeSeriesStore, devices: int, start_ms: int, end_ms: int) -> list[tuple[str, int]]:
    """Every stored (device, time) of the stream, duplicates included, read back through the store."""
    keys = []
    for d in range(devices):
        frame = store.read_range(device_id=f"dev-{d}", quantity="pm25", start_ms=start_ms, end_ms=end_ms)
        keys.extend((f"dev-{d}", int(t.value // 1_000_000)) for t in frame.index)
    return keys

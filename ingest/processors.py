"""Processors between the source and the sink: each takes a batch and returns it, one job each.

`Validate` turns payloads into readings with the wire contract (never by hand) and collects the
rejects with their reasons; `Enrich` attaches the registry's district, kind and location of the
batch's devices.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from citysense import wire
from citysense.timeseries import DeviceTags
from ingest.registry import DeviceRegistry
from ingest.source import Delivery

__all__ = ["Batch", "Enrich", "Processor", "Validate"]


@dataclass(slots=True)
class Batch:
    deliveries: list[Delivery]
    readings: list[wire.Reading] = field(default_factory=list)
    # Messages (or parts of them) refused, with every reason: they go to the dead-letter topic.
    dead: list[tuple[Delivery, list[wire.Rejection]]] = field(default_factory=list)
    tags: Mapping[str, DeviceTags] = field(default_factory=dict)


class Processor(Protocol):
    def apply(self, batch: Batch) -> Batch: ...


class Validate:
    def __init__(self, limits: wire.Limits) -> None:
        self.limits = limits

    def apply(self, batch: Batch) -> Batch:
        now = time.time()
        for delivery in batch.deliveries:
            device_id = wire.device_from_topic(delivery.topic)
            if device_id is None or not delivery.topic.endswith("/readings"):
                reason = wire.Rejection(wire.RejectReason.BAD_TOPIC, f"not a readings topic: {delivery.topic[:200]}")
                batch.dead.append((delivery, [reason]))
                continue
            result = wire.parse_pack(delivery.payload, device_id=device_id, now=now, limits=self.limits)
            batch.readings.extend(result.readings)
            if result.rejections:
                batch.dead.append((delivery, result.rejections))
        return batch


class Enrich:
    def __init__(self, registry: DeviceRegistry) -> None:
        self.registry = registry

    def apply(self, batch: Batch) -> Batch:
        known = self.registry.tags()
        if known:
            devices = {r.device_id for r in batch.readings}
            batch.tags = {d: known[d] for d in devices if d in known}
        return batch

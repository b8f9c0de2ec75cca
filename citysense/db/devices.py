"""The device registry: which device is where, so readings become a district's status."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citysense.db.models import Device

__all__ = ["DeviceInfo", "districts_by_device", "register_devices"]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    device_id: str
    district: str
    kind: str
    lat: float | None = None
    lon: float | None = None


def register_devices(sessions: sessionmaker[Session], devices: Iterable[DeviceInfo]) -> int:
    """Insert or update devices; returns how many there were. Safe to repeat."""
    n = 0
    with sessions.begin() as session:
        for info in devices:
            device = session.get(Device, info.device_id)
            if device is None:
                device = Device(id=info.device_id)
                session.add(device)
            device.district, device.kind, device.lat, device.lon = (
                info.district,
                info.kind,
                info.lat,
                info.lon,
            )
            n += 1
    return n


def districts_by_device(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        return dict(session.execute(select(Device.id, Device.district)).all())

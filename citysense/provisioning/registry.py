"""Provisioning against the device registry (SQLite or PostgreSQL) and the broker's files together.

Order of writes: registry row first, then the password file, then the ACL. A failure part way
leaves a registered device without a login (harmless, and `add` again repairs it), never a login
without a registry row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citysense import wire
from citysense.db.models import Device, utcnow
from citysense.errors import CitysenseError
from citysense.provisioning.mosquitto import PasswordFile, write_acl, write_simulation_acl
from citysense.provisioning.passwords import generate_password
from citysense.provisioning.services import RESERVED_PREFIX, SERVICES, is_reserved_login

__all__ = [
    "BrokerFiles",
    "DeviceRecord",
    "ProvisioningError",
    "add_device",
    "add_service",
    "list_devices",
    "revoke_device",
]


class ProvisioningError(CitysenseError):
    """A provisioning request that cannot be done as asked (unknown device, invalid id, ...)."""


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    password_file: Path
    acl_file: Path

    @property
    def simulation_acl_file(self) -> Path:
        """Next to the ACL, rewritten with it, so it can never miss a login added since."""
        return self.acl_file.with_name("sim-acl")


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    device_id: str
    district: str
    kind: str
    created_at: datetime
    revoked_at: datetime | None
    has_login: bool


def _refresh_acl(sessions: sessionmaker[Session], files: BrokerFiles) -> None:
    """Service rights come from `services.SERVICES` alone, never from what a registry lacks. The
    simulation listener's denials cover every login and every device this registry knows: a
    registry can only add denials there, never remove one."""
    write_acl(files.acl_file)
    with sessions() as session:
        device_ids = set(session.scalars(select(Device.id)).all())
    write_simulation_acl(files.simulation_acl_file, device_ids | set(PasswordFile(files.password_file).entries()))


def _check_device_login(session: Session, files: BrokerFiles, device_id: str) -> None:
    """Refuse an id that is, or could pass for, a service, and one whose login this registry does
    not own (another registry's device, a hand-made login): replacing that password would take
    the login over."""
    if is_reserved_login(device_id):
        raise ProvisioningError(
            f"{device_id!r} is reserved for services (names starting with {RESERVED_PREFIX!r}); pick another device id"
        )
    if session.get(Device, device_id) is None and device_id in PasswordFile(files.password_file).entries():
        raise ProvisioningError(
            f"a broker login {device_id!r} exists in {files.password_file} but this registry has no such device: "
            "check CITYSENSE_TICKETS_URL points at the deployment's registry, or pick another id"
        )


def add_device(sessions: sessionmaker[Session], files: BrokerFiles, device_id: str, *, district: str, kind: str) -> str:
    """Register (or re-register) a device and give it a fresh broker password; returns the password."""
    if not wire.is_valid_device_id(device_id):
        raise ProvisioningError(f"invalid device id {device_id!r}: use letters, digits, '-', '_' or '.' (max 64)")
    if not district.strip() or not kind.strip():
        raise ProvisioningError("district and kind must not be empty")
    with sessions.begin() as session:
        _check_device_login(session, files, device_id)
        device = session.get(Device, device_id)
        if device is None:
            device = Device(id=device_id, district=district, kind=kind)
            session.add(device)
        device.district, device.kind, device.revoked_at = district, kind, None
    password = generate_password()
    PasswordFile(files.password_file).set(device_id, password)
    _refresh_acl(sessions, files)
    return password


def add_service(sessions: sessionmaker[Session], files: BrokerFiles, name: str) -> str:
    """A login for one of the declared services (`services.SERVICES`); returns its new password."""
    if name not in SERVICES:
        raise ProvisioningError(f"unknown service {name!r}: one of {', '.join(sorted(SERVICES))}")
    with sessions() as session:
        if session.get(Device, name) is not None:
            raise ProvisioningError(f"{name!r} is registered as a device; revoke and rename that device first")
    password = generate_password()
    PasswordFile(files.password_file).set(name, password)
    _refresh_acl(sessions, files)
    return password


def revoke_device(sessions: sessionmaker[Session], files: BrokerFiles, device_id: str) -> None:
    """Withdraw the login (the broker refuses it after a reload); the registry row and history stay."""
    with sessions.begin() as session:
        device = session.get(Device, device_id)
        if device is None:
            raise ProvisioningError(f"no device {device_id!r} in the registry")
        if device.revoked_at is None:
            device.revoked_at = utcnow()
    PasswordFile(files.password_file).remove(device_id)
    _refresh_acl(sessions, files)


def list_devices(sessions: sessionmaker[Session], files: BrokerFiles) -> list[DeviceRecord]:
    logins = PasswordFile(files.password_file).entries()
    with sessions() as session:
        devices = session.scalars(select(Device).order_by(Device.district, Device.id)).all()
        return [DeviceRecord(d.id, d.district, d.kind, d.created_at, d.revoked_at, d.id in logins) for d in devices]

"""The two files Mosquitto reads for access control: `password_file` and `acl_file`.

Writes are atomic (temporary file + rename) so a broker reloading on SIGHUP never reads half a
file, and the password file stays mode 0600. Lines we do not manage are kept as they are.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from citysense import wire
from citysense.provisioning.passwords import hash_password
from citysense.provisioning.services import SERVICES

__all__ = ["PasswordFile", "acl_text", "simulation_acl_text", "write_acl", "write_simulation_acl"]


def _atomic_write(path: Path, text: str, mode: int) -> None:
    """Replace `path` whole; an existing file's mode and owner are kept (e.g. root:mosquitto 0640,
    so a broker that dropped root privileges can still read it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    owner: tuple[int, int] | None = None
    if path.exists():
        stat = path.stat()
        mode, owner = stat.st_mode & 0o777, (stat.st_uid, stat.st_gid)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if owner is not None and hasattr(os, "chown"):
            with contextlib.suppress(PermissionError):  # not ours to give away; the mode still applies
                os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class PasswordFile:
    """`user:$7$...` lines, one per login, in the order they were added."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        found: dict[str, str] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            user, sep, encoded = line.partition(":")
            if sep and user and not line.startswith("#"):
                found[user] = encoded
        return found

    def set(self, username: str, password: str) -> None:
        """Add or replace a login (replacing rotates its password)."""
        if ":" in username or not username:
            raise ValueError(f"invalid username {username!r}")
        entries = self.entries()
        entries[username] = hash_password(password)
        self._write(entries)

    def remove(self, username: str) -> bool:
        entries = self.entries()
        if entries.pop(username, None) is None:
            return False
        self._write(entries)
        return True

    def _write(self, entries: dict[str, str]) -> None:
        _atomic_write(self.path, "".join(f"{u}:{h}\n" for u, h in entries.items()), 0o600)


def acl_text() -> str:
    """The whole ACL: device rules are patterns on the login name (`%u`), so a device may write its
    readings and status and read its own configuration, nothing else, and no edit is needed per
    device; the declared services (`services.SERVICES`, and only those) get their own blocks."""
    lines = [
        "# Written by `citysense devices`; edits are overwritten.",
        "# Devices log in with their id and may only write under their own topics.",
        f"pattern write {wire.device_topic_pattern('readings')}",
        f"pattern write {wire.device_topic_pattern('status')}",
        f"pattern read {wire.device_topic_pattern('config')}",
        "",
    ]
    for role in sorted(SERVICES.values(), key=lambda r: r.name):
        lines += [f"# {role.purpose}", f"user {role.name}"]
        lines += [f"topic {access} {topic}" for access, topic in role.topics]
        lines.append("")
    return "\n".join(lines)


def write_acl(path: Path) -> None:
    """(Re)write the ACL file; it depends on nothing but this code, so any run writes the same file."""
    _atomic_write(path, acl_text(), 0o644)


def simulation_acl_text(provisioned: Iterable[str]) -> str:
    """The ACL of an anonymous simulation listener: simulated devices may write readings and status
    of any device id except the provisioned ones (`topic deny` is checked before any grant), and
    read nothing, so nobody on that listener can speak for a real device or a service."""
    lines = [
        "# Written by `citysense devices`; edits are overwritten.",
        "# Anonymous simulated devices: write readings and status, never a provisioned device's; read nothing.",
    ]
    for login in sorted({p for p in provisioned if wire.is_valid_device_id(p)}):
        lines += [f"topic deny {wire.readings_topic(login)}", f"topic deny {wire.status_topic(login)}"]
    lines += [f"topic write {wire.READINGS_FILTER}", f"topic write {wire.STATUS_FILTER}", ""]
    return "\n".join(lines)


def write_simulation_acl(path: Path, provisioned: Iterable[str]) -> None:
    _atomic_write(path, simulation_acl_text(provisioned), 0o644)

"""systemd's notify protocol (sd_notify), spoken directly over its datagram socket.

`Type=notify` units learn that the agent is ready (READY=1), and `WatchdogSec=` restarts it when
it stops sending WATCHDOG=1: a hung sampler or link thread on a lamp post recovers by itself.
No library is needed: the protocol is one datagram per message to $NOTIFY_SOCKET.
"""

from __future__ import annotations

import os
import socket

__all__ = ["notify", "watchdog_period_s"]


def notify(message: str) -> bool:
    """Send `message` (e.g. "READY=1") to systemd; False when not running under a notify unit."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


def watchdog_period_s() -> float | None:
    """How often to ping the watchdog (half its timeout), or None when no watchdog is configured."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2_000_000, 0.05)
    except ValueError:
        return None

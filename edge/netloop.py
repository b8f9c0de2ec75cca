"""Driving one paho client from the link's own thread, and waking that thread from any other.

paho's `loop(timeout)` sleeps in select() until the socket has something or the timeout ends, so a
pack queued meanwhile waits for the next tick; polling every few milliseconds instead costs CPU on
a Pi and, across hundreds of simulated devices on one machine, most of a core. Here the thread
sleeps on the client's socket *and* a wake-up pipe: `wake()` (after `DiskQueue.put`) ends the
sleep at once, so the link is idle when there is nothing to do and prompt when there is.

`poll()` rather than select(): a simulator holds thousands of descriptors, beyond select's 1024.
"""

from __future__ import annotations

import contextlib
import os
import select
import ssl
import threading

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

__all__ = ["NetLoop"]

_BROKEN = select.POLLERR | select.POLLHUP | select.POLLNVAL


class NetLoop:
    """`step()` belongs to the one thread that owns the client; `wake()` and `close()` to anyone."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._lock = threading.Lock()  # a closed descriptor's number is reused: never write after close
        self._closed = False

    def wake(self) -> None:
        """End the owner's current `step()` now (cheap: one byte, nothing when a wake-up is pending)."""
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(BlockingIOError):  # a full pipe: the owner is woken already
                os.write(self._write_fd, b"\0")

    def step(self, client: paho.Client, timeout_s: float) -> MQTTErrorCode:
        """Wait up to `timeout_s` for the socket or a wake-up, then read, write and keep alive.

        Returns paho's code: anything but MQTT_ERR_SUCCESS means the connection is gone.
        """
        sock = client.socket()
        if sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        # TLS may hold decrypted bytes the kernel no longer reports as readable.
        pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
        poller = select.poll()
        poller.register(sock, select.POLLIN | (select.POLLOUT if client.want_write() else 0))
        poller.register(self._read_fd, select.POLLIN)
        try:
            ready = dict(poller.poll(0 if pending else max(0, int(timeout_s * 1000))))
        except (OSError, ValueError):
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if self._read_fd in ready:
            self._drain()
        events = ready.get(sock.fileno(), 0)
        if events & select.POLLNVAL:
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if pending or events & (select.POLLIN | _BROKEN):
            rc = client.loop_read()  # reads every packet waiting (a batch of PUBACKs at once)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc
        if client.want_write():
            rc = client.loop_write()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc
        return client.loop_misc()

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._read_fd, 4096)  # one read: more wake-ups than that only wake the next step early

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._read_fd)
                os.close(self._write_fd)

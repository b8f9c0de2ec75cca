"""The ingest worker: MQTT source -> wire validation -> time-series sink -> acknowledge.

A message is acknowledged (paho-mqtt manual ack, QoS 1) only after the store has committed its
readings, so a crash at any point means redelivery, never loss; the store's idempotent write
means redelivery never duplicates. Rejects are dead-lettered with their reasons before the ack.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from citysense import wire
from citysense.errors import StoreError
from citysense.mqtt import connect_and_wait, make_client
from citysense.settings import IngestSettings
from citysense.timeseries import TimeSeriesStore
from ingest.counters import IngestCounters

__all__ = ["IngestWorker"]

log = logging.getLogger(__name__)

_LOG_EVERY_S = 30.0


class IngestWorker:
    def __init__(self, settings: IngestSettings, store: TimeSeriesStore) -> None:
        self.settings = settings
        self.store = store
        self.counters = IngestCounters()
        # Bounded: when the store stalls, on_message blocks, paho stops reading the socket, and the
        # broker holds the rest (QoS 1) instead of this process growing without limit.
        self._inbox: queue.Queue[paho.MQTTMessage] = queue.Queue(maxsize=settings.max_in_flight)
        self._stop = threading.Event()
        self._client: paho.Client | None = None
        self._writer: threading.Thread | None = None

    @property
    def subscription(self) -> str:
        return wire.SHARED_READINGS_FILTER if self.settings.shared_subscription else wire.READINGS_FILTER

    def start(self) -> None:
        client = make_client(
            self.settings.broker, client_id=self.settings.client_id, clean_session=False, manual_ack=True
        )
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        self._client = client
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._writer.start()
        connect_and_wait(client, self.settings.broker)
        log.info("ingest subscribed to %s", self.subscription)

    def stop(self) -> None:
        """Stop pulling, store and acknowledge what was already taken, then disconnect."""
        self._stop.set()
        if self._writer is not None:
            self._writer.join(timeout=30)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        log.info("ingest stopped: %s", self.counters.snapshot())

    def _on_connect(self, client: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if rc.is_failure:
            log.warning("broker refused ingest: %s", rc)
            return
        client.subscribe(self.subscription, qos=1)

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        while not self._stop.is_set():
            try:
                self._inbox.put(message, timeout=0.5)
                return
            except queue.Full:
                continue

    def _write_loop(self) -> None:
        last_log = time.monotonic()
        while True:
            batch = self._next_batch()
            if batch:
                self._handle(batch)
            elif self._stop.is_set():
                return
            if time.monotonic() - last_log > _LOG_EVERY_S:
                log.info("ingest counters: %s", self.counters.snapshot())
                last_log = time.monotonic()

    def _next_batch(self) -> list[paho.MQTTMessage]:
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait_s
        while len(batch) < self.settings.batch_size:
            remaining = deadline - time.monotonic()
            try:
                message = self._inbox.get(timeout=max(remaining, 0)) if remaining > 0 else self._inbox.get_nowait()
            except queue.Empty:
                break
            batch.append(message)
        return batch

    def _handle(self, batch: list[paho.MQTTMessage]) -> None:
        readings: list[wire.Reading] = []
        dead: list[tuple[str, bytes | bytearray, list[wire.Rejection]]] = []
        now = time.time()
        for message in batch:
            device_id = wire.device_from_topic(message.topic)
            if device_id is None:
                rejections = [wire.Rejection(wire.RejectReason.BAD_TOPIC, f"not a device topic: {message.topic}")]
                dead.append((message.topic, message.payload, rejections))
                continue
            result = wire.parse_pack(message.payload, device_id=device_id, now=now)
            readings.extend(result.readings)
            if result.rejections:
                dead.append((message.topic, message.payload, result.rejections))
        stored = self._store(readings)
        for topic, payload, rejections in dead:
            for rejection in rejections:
                self.counters.reject(rejection.reason.value)
            log.warning("dead-lettered %s from %s: %s", rejections[0].reason.value, topic, rejections[0].detail)
            if self._client is not None:
                self._client.publish(wire.DEADLETTER_TOPIC, wire.deadletter_payload(topic, payload, rejections), qos=1)
        if self._client is not None:
            for message in batch:
                self._client.ack(message.mid, message.qos)
        self.counters.add(
            messages=len(batch),
            readings=len(readings),
            stored=stored,
            duplicates=len(readings) - stored,
            acknowledged=len(batch),
        )

    def _store(self, readings: list[wire.Reading]) -> int:
        """Write until the store takes the batch; a fatal store error stops the worker unacknowledged."""
        delay = 0.1
        while True:
            try:
                return self.store.write(readings)
            except StoreError as exc:
                if not exc.retryable:
                    log.error("store refused a batch for good, stopping without acknowledging: %s", exc)
                    self._stop.set()
                    raise
                self.counters.add(store_retries=1)
                log.warning("store write failed, retrying in %.1fs: %s", delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

"""The ingest worker: MQTT source -> batching -> validate -> enrich -> store sink -> acknowledge.

A message is acknowledged (manual ack, QoS 1) only after the store has durably taken its
readings, so a crash at any point means redelivery, never loss; the store's idempotent write
means redelivery never duplicates. Rejects are dead-lettered with their reasons, and the broker
has confirmed the dead letter, before the message they came in is acknowledged.

Two threads after paho's own: one cuts batches (by size, or by time when traffic is light) and
runs the processors; the other writes them and acknowledges. Validation of one batch so overlaps
the store's write of the one before (SQLite and the HTTP client release the GIL while they work).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from citysense import wire
from citysense.settings import IngestSettings
from citysense.timeseries import TimeSeriesStore
from ingest.counters import IngestCounters
from ingest.processors import Batch, Enrich, Processor, Validate
from ingest.registry import DeviceRegistry
from ingest.sink import SinkStoppedError, StoreSink
from ingest.source import Delivery, MqttSource

__all__ = ["IngestWorker", "ThreadDiedError"]

log = logging.getLogger(__name__)

_DEADLETTER_CONFIRM_S = 1.0


class ThreadDiedError(Exception):
    """One of the worker's threads ended on an exception (its cause)."""


class IngestWorker:
    def __init__(
        self,
        settings: IngestSettings,
        store: TimeSeriesStore,
        *,
        registry: DeviceRegistry | None = None,
        processors: Sequence[Processor] = (),
    ) -> None:
        """`processors` run after validation and enrichment, in order (a deployment's own steps)."""
        self.settings = settings
        self.store = store
        self.counters = IngestCounters()
        # Bounded by the broker: it sends at most max_in_flight unacknowledged messages (Receive Maximum).
        self._inbox: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self._ready: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self.failure: BaseException | None = None
        self.source = MqttSource(settings, self._receive)
        limits = wire.Limits(retention_s=settings.retention_s)
        self.registry = registry or DeviceRegistry(settings.tickets_url, refresh_s=settings.registry_refresh_s)
        self.processors: list[Processor] = [Validate(limits), Enrich(self.registry), *processors]
        self.sink = StoreSink(store, self.counters, self._stop)
        self._threads: list[threading.Thread] = []

    @property
    def subscription(self) -> str:
        return self.source.subscription

    def start(self) -> None:
        self.registry.tags()  # the first read of the registry is slow: not in the first batch's path
        self._threads = [
            threading.Thread(target=self._guarded, args=(self._batch_loop,), name="ingest-batcher", daemon=True),
            threading.Thread(target=self._guarded, args=(self._sink_loop,), name="ingest-sink", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.source.start()

    @property
    def threads(self) -> list[threading.Thread]:
        return list(self._threads)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _guarded(self, loop: Callable[[], None]) -> None:
        """Run one of the worker's loops; an exception that escapes it is the worker's fatal failure,
        never a thread that vanishes while the process looks alive."""
        try:
            loop()
        except BaseException as exc:
            name = threading.current_thread().name
            if self.failure is None:
                self.failure = ThreadDiedError(f"thread {name} died: {type(exc).__name__}: {exc}")
                self.failure.__cause__ = exc
            self._stop.set()
            log.exception("ingest thread %s died; unacknowledged messages stay with the broker", name)
            with contextlib.suppress(queue.Full):
                self._ready.put(None, timeout=1.0)  # let the sink loop end too

    def stop(self) -> None:
        """Stop pulling, store and acknowledge what was already batched, then disconnect."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self.source.stop()
        log.info("ingest stopped: %s", self.counters.snapshot())

    def _receive(self, delivery: Delivery) -> None:
        self.counters.add(messages=1)
        self._inbox.put(delivery)

    # ------------------------------------------------------------------ batching and processing

    def _batch_loop(self) -> None:
        last_log = time.monotonic()
        while not self._stop.is_set():
            deliveries = self._next_batch()
            if deliveries:
                batch = Batch(deliveries)
                for processor in self.processors:
                    batch = processor.apply(batch)
                self._ready.put(batch)
            if time.monotonic() - last_log > self.settings.log_every_s:
                log.info("ingest counters: %s", self.counters.snapshot())
                last_log = time.monotonic()
        self._ready.put(None)

    def _next_batch(self) -> list[Delivery]:
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait_s
        while len(batch) < self.settings.batch_size:
            try:
                batch.append(self._inbox.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._inbox.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    # ------------------------------------------------------------------ storing and acknowledging

    def _sink_loop(self) -> None:
        while (batch := self._ready.get()) is not None:
            if self.failure is not None:
                continue  # after a fatal store error nothing more is acknowledged
            try:
                self._finish(batch)
            except SinkStoppedError:
                log.info("stopped with %d messages unacknowledged: the broker redelivers them", len(batch.deliveries))
            except Exception as exc:
                self.failure = exc
                self._stop.set()
                log.exception("ingest stopped on a fatal error; unacknowledged messages stay with the broker")

    def _finish(self, batch: Batch) -> None:
        stored = self.sink.write(batch) if batch.readings else 0
        if batch.readings:
            self.counters.stored_up_to(batch.readings[-1].time_ms)
        self._deadletter(batch)
        acked = self.source.ack(batch.deliveries)
        self.counters.set_lag(time.monotonic() - min(d.received_at for d in batch.deliveries))
        self.counters.add(
            readings=len(batch.readings),
            stored=stored,
            duplicates=len(batch.readings) - stored,
            acknowledged=acked,
            deadletters=len(batch.dead),
            batches=1,
        )

    def _deadletter(self, batch: Batch) -> None:
        """Publish every reject with its reasons and wait for the broker to take them."""
        sent = []
        for delivery, rejections in batch.dead:
            for rejection in rejections:
                self.counters.reject(rejection.reason.value)
            first = rejections[0]
            log.warning(
                "dead-lettered %s from %s: %s",
                first.reason.value,
                delivery.topic[:200],
                first.detail,
                extra={"device_id": wire.device_from_topic(delivery.topic)},
            )
            info = self.source.publish(
                wire.DEADLETTER_TOPIC, wire.deadletter_payload(delivery.topic, delivery.payload, rejections)
            )
            if info is not None:
                sent.append(info)
        for info in sent:
            # paho resends an unconfirmed QoS 1 publish after a reconnect: wait for it, not for ever.
            while not info.is_published():
                if self._stop.is_set():
                    raise SinkStoppedError("stopped before the broker confirmed a dead letter")
                try:
                    info.wait_for_publish(_DEADLETTER_CONFIRM_S)
                except (RuntimeError, ValueError):
                    time.sleep(0.2)  # not connected right now

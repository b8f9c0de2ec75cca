"""`citysense analytics`: its own MQTT subscription, the detector engine and the ticket policy.

On start it warms the detectors up from the store's recent history (`warmup_s`), loads saved batch
models (or trains them from that history and saves them), then subscribes. Ticket events go to
`cs/v1/tickets`. A timer resolves quiet tickets, reports silent devices and reloads maintenance windows.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from analytics.engine import DeviceMeta, Engine, EngineConfig
from analytics.feedback import FeedbackReader
from analytics.findings import Finding
from analytics.rules import load_thresholds
from analytics.tickets import TicketChange, TicketPolicy
from citysense import wire
from citysense.db import Device, connect
from citysense.mqtt import connect_and_wait, make_client
from citysense.settings import AnalyticsSettings

__all__ = ["AnalyticsService"]

log = logging.getLogger(__name__)


class AnalyticsService:
    def __init__(self, settings: AnalyticsSettings) -> None:
        self.settings = settings
        self.sessions = connect(settings.tickets_url)
        self.engine = Engine(
            EngineConfig.from_settings(settings, load_thresholds(settings.thresholds_file)), self._device
        )
        self.rules = self.engine.config.rules
        self.policy = TicketPolicy(self.sessions, quiet_period_s=settings.quiet_period_s, on_change=self._publish)
        self.feedback = FeedbackReader(self.sessions)
        self._client: paho.Client | None = None
        self._stop = threading.Event()
        self._engine_lock = threading.Lock()
        self._resolver: threading.Thread | None = None
        self.readings_seen = 0
        self.rejected = 0
        self.warmed = 0

    def _device(self, device_id: str) -> DeviceMeta:
        with self.sessions() as session:
            device = session.get(Device, device_id)
        if device is None:
            return DeviceMeta(device_id, "unknown", "unknown")
        return DeviceMeta(device_id, device.district, device.kind)

    def warm_up(self) -> int:
        """Learn the recent past from the store; returns how many readings were learned."""
        if self.settings.warmup_s <= 0:
            return 0
        from analytics.models import WindowCollector, load_models, save_models, train_models
        from analytics.warmup import history
        from citysense.timeseries import open_store

        end_ms = round(time.time() * 1000)
        store = open_store(self.settings.timeseries_url)
        folder = self.settings.models_dir or self.settings.data_dir / "models"
        models = load_models(folder)
        collector = WindowCollector(self.engine.meta)
        began = time.monotonic()
        try:
            readings = history(store, start_ms=end_ms - round(self.settings.warmup_s * 1000), end_ms=end_ms)
            with self._engine_lock:
                self.warmed = self.engine.warm(readings if models else collector.tee(readings))
        finally:
            store.close()
        if not models:
            models = train_models(collector)
            save_models(models, folder)
        self.engine.models = models
        self.engine.silence.restart(end_ms)
        log.info(
            "warmed up on %d readings in %.1fs; %d batch models", self.warmed, time.monotonic() - began, len(models)
        )
        return self.warmed

    def start(self) -> None:
        self.warm_up()
        self.learn_feedback()  # after the warm-up: what operators taught survives a restart
        self.policy.refresh_maintenance(datetime.now(UTC))
        client = make_client(self.settings.broker, client_id=self.settings.client_id, clean_session=False)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        self._client = client
        connect_and_wait(client, self.settings.broker)
        self._resolver = threading.Thread(target=self._resolve_loop, name="analytics-resolver", daemon=True)
        self._resolver.start()
        log.info("analytics watching %s (%d rules)", wire.READINGS_FILTER, len(self.rules))

    def stop(self) -> None:
        self._stop.set()
        if self._resolver is not None:
            self._resolver.join(timeout=5)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def _on_connect(self, client: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if not rc.is_failure:
            client.subscribe(wire.READINGS_FILTER, qos=1)

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        device_id = wire.device_from_topic(message.topic)
        if device_id is None:
            return
        result = wire.parse_pack(message.payload, device_id=device_id)
        self.rejected += len(result.rejections)  # ingest dead-letters them; here they are only skipped
        received_ms = round(time.time() * 1000)
        for reading in result.readings:
            self.readings_seen += 1
            with self._engine_lock:
                findings = self.engine.process(reading, received_ms=received_ms)
            self._observe(findings)

    def _observe(self, findings: list[Finding]) -> None:
        for finding in findings:
            try:
                self.policy.observe(finding)
            except Exception:
                log.exception("ticket policy failed on %s", finding)

    def _resolve_loop(self) -> None:
        interval = min(10.0, self.settings.quiet_period_s / 4)
        while not self._stop.wait(interval):
            now = datetime.now(UTC)
            try:
                with self._engine_lock:
                    findings = self.engine.tick(round(now.timestamp() * 1000))
                self._observe(findings)
                self.policy.refresh_maintenance(now)
                self.policy.resolve_quiet(now)
                self.learn_feedback()
            except Exception:
                log.exception("resolving quiet tickets failed")

    def learn_feedback(self) -> int:
        """Teach the detectors the operators' new false-alarm marks; returns how many."""
        lessons = self.feedback.new()
        with self._engine_lock:
            for lesson in lessons:
                self.engine.teach(lesson.device_id, lesson.quantity, lesson.deviation)
        return len(lessons)

    def _publish(self, change: TicketChange) -> None:
        if self._client is None:
            return
        self._client.publish(wire.TICKETS_TOPIC, wire.ticket_event_payload(change.event, change.summary), qos=1)

"""`citysense analytics`: its own MQTT subscription to the readings, rules, and the ticket policy."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import orjson
import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from analytics.rules import default_rules, evaluate
from analytics.tickets import TicketChange, TicketPolicy
from citysense import wire
from citysense.db import connect
from citysense.mqtt import connect_and_wait, make_client
from citysense.settings import AnalyticsSettings

__all__ = ["AnalyticsService"]

log = logging.getLogger(__name__)


class AnalyticsService:
    def __init__(self, settings: AnalyticsSettings) -> None:
        self.settings = settings
        self.rules = default_rules(settings)
        self.policy = TicketPolicy(
            connect(settings.tickets_url), quiet_period_s=settings.quiet_period_s, on_change=self._publish
        )
        self._client: paho.Client | None = None
        self._stop = threading.Event()
        self._resolver: threading.Thread | None = None
        self.readings_seen = 0
        self.rejected = 0

    def start(self) -> None:
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
        for reading in result.readings:
            self.readings_seen += 1
            breach = evaluate(self.rules, reading)
            if breach is None:
                continue
            try:
                self.policy.observe(breach)
            except Exception:
                log.exception("ticket policy failed on %s", reading)

    def _resolve_loop(self) -> None:
        interval = min(10.0, self.settings.quiet_period_s / 4)
        while not self._stop.wait(interval):
            try:
                self.policy.resolve_quiet(datetime.now(UTC))
            except Exception:
                log.exception("resolving quiet tickets failed")

    def _publish(self, change: TicketChange) -> None:
        if self._client is None:
            return
        payload = orjson.dumps({"event": change.event, "ticket": change.summary})
        self._client.publish(wire.TICKETS_TOPIC, payload, qos=1)

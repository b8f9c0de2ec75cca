"""`citysense analytics`: the detector engine and the ticket policy on the devices this process owns.

- Ownership (docs/scaling.md): devices are hashed into partitions (`analytics.partitions`); with
  PostgreSQL each process leases a fair share through advisory locks and subscribes to its
  devices' topics only, so all readings of a device reach one process, in order. With SQLite one
  process owns everything and subscribes to `cs/v1/+/readings`.
- Taking a partition (at start, or over from a process that died or gave it back): subscribe,
  wait `takeover_settle_s` for ingest to store what was published before, then read the store:
  readings up to the device's committed position warm the detectors up (no findings), readings
  after it are replayed with findings. Live messages that arrive meanwhile wait, then go through,
  those already replayed skipped.
- Acknowledge after commit: a reading's MQTT message is acknowledged only after the tickets its
  findings produced are committed. While the tickets database refuses writes the message waits and
  is tried again; after `store_outage_s` the process is fatally broken: `/readyz` says why and
  `citysense analytics` exits non-zero, and the broker redelivers what was not acknowledged.
- The device registry is re-read every `registry_refresh_s`: a device first seen as "unknown"
  gets its district once it is registered.
Ticket events go to `cs/v1/tickets` (`wire.ticket_event_payload`). A timer resolves quiet tickets,
reports silent devices, reloads maintenance windows, balances leases and commits positions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from analytics.engine import DeviceMeta, Engine, EngineConfig
from analytics.feedback import FeedbackReader, Lesson
from analytics.findings import Finding
from analytics.health import HealthServer
from analytics.partitions import Leases, SoleOwner, leases_for, partition_of
from analytics.positions import Positions
from analytics.rules import load_thresholds
from analytics.tickets import TicketChange, TicketPolicy
from citysense import wire
from citysense.db import Device, connect
from citysense.logs import log_context
from citysense.mqtt import connect_and_wait, make_client
from citysense.settings import AnalyticsSettings
from citysense.timeseries import TimeSeriesStore, open_store

__all__ = ["AnalyticsService"]

log = logging.getLogger(__name__)

_DAY_MS = 86_400_000
_SUBSCRIBE_CHUNK = 500
_SAVE_EVERY_S = 3600.0  # the anomaly detectors' state, besides at every stop


class _FatalError(Exception):
    """The process cannot go on; the message stays unacknowledged."""


class AnalyticsService:
    def __init__(self, settings: AnalyticsSettings) -> None:
        self.settings = settings
        self.sessions = connect(settings.tickets_url)
        self.engine = Engine(
            EngineConfig.from_settings(settings, load_thresholds(settings.thresholds_file)), self._device
        )
        self.rules = self.engine.config.rules
        self.policy = TicketPolicy(self.sessions, quiet_period_s=settings.quiet_period_s, on_change=self._publish)
        # Operators' false-alarm marks: all kept, so a device taken over is taught them again.
        self.feedback = FeedbackReader(self.sessions)
        self._saved_at = time.monotonic()
        self._lessons: dict[str, list[Lesson]] = defaultdict(list)
        self.leases: Leases = leases_for(settings.tickets_url, settings.partitions)
        # Per-device subscriptions when other processes may share the stream; one wildcard otherwise.
        self.per_device = not isinstance(self.leases, SoleOwner)
        self.positions = Positions(self.sessions)
        self.health = HealthServer(
            host=settings.metrics_host, port=settings.metrics_port, readiness=self.readiness, metrics=self.metrics
        )
        self._client: paho.Client | None = None
        self._generation = 0
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._engine_lock = threading.RLock()
        self._state_lock = threading.Lock()
        self._live: set[int] = set()
        self._warming: dict[int, list[tuple[paho.MQTTMessage, int]]] = {}
        self._subscribed: set[str] = set()
        self._collector: Any = None
        self._replayed: dict[str, set[tuple[str, int]]] = {}
        self._registry: dict[str, DeviceMeta] = {}
        self._timer: threading.Thread | None = None
        self._models_ready = False
        self.fatal: str | None = None
        self.fatal_event = threading.Event()
        self.db_down_since: float | None = None
        self.readings_seen = 0
        self.rejected = 0
        self.warmed = 0
        self.replayed = 0
        self.takeovers = 0
        self.findings = 0

    # ------------------------------------------------------------------ registry

    def _device(self, device_id: str) -> DeviceMeta:
        meta = self._registry.get(device_id)
        if meta is None:
            try:
                with self.sessions() as session:
                    device = session.get(Device, device_id)
            except SQLAlchemyError as exc:  # raised out of the MQTT callback, it stopped the loop
                log.warning("registry unavailable for %s (%s): unknown district until the next refresh", device_id, exc)
                return DeviceMeta(device_id, "unknown", "unknown")
            if device is None:
                return DeviceMeta(device_id, "unknown", "unknown")  # re-checked at every registry refresh
            meta = self._registry[device_id] = DeviceMeta(device_id, device.district, device.kind)
        return meta

    def refresh_registry(self) -> int:
        """Re-read every device; the engine forgets devices whose entry changed. The number changed."""
        with self.sessions() as session:
            rows = session.execute(select(Device.id, Device.district, Device.kind)).all()
        fresh = {device_id: DeviceMeta(device_id, district, kind) for device_id, district, kind in rows}
        changed = 0
        with self._engine_lock:
            for device_id in list(self.engine_devices()):
                known = self.engine.meta(device_id)
                if fresh.get(device_id, DeviceMeta(device_id, "unknown", "unknown")) != known:
                    self.engine.forget(device_id)
                    changed += 1
            self._registry = fresh
        if self.per_device:
            # Devices registered since their partition was taken: their readings start to flow now.
            self._subscribe([d for d in fresh if d not in self._subscribed and self._owns(d)])
        return changed

    def engine_devices(self) -> list[str]:
        return list(self.engine._meta)

    def _devices_in(self, partitions: set[int]) -> list[str]:
        n = self.settings.partitions
        return [d for d in self._registry if partition_of(d, n) in partitions]

    def _owns(self, device_id: str) -> bool:
        with self._state_lock:
            return partition_of(device_id, self.settings.partitions) in self._live

    # ------------------------------------------------------------------ start and stop

    def warm_up(self) -> int:
        """Take the partitions this process may own and learn their recent past from the store."""
        self._load_registry()
        gained = sorted(self.leases.held) if self.leases.held else self.leases.balance().gained
        self._take(set(gained), settle=False)
        return self.warmed

    def _load_registry(self) -> None:
        with self.sessions() as session:
            rows = session.execute(select(Device.id, Device.district, Device.kind)).all()
        self._registry = {device_id: DeviceMeta(device_id, district, kind) for device_id, district, kind in rows}

    @property
    def _state_file(self) -> Path:
        return self.settings.data_dir / "anomaly-state.json"

    def load_anomaly_state(self) -> int:
        """Detectors as they were at the last stop (weekly cycles need weeks; a warm-up holds days)."""
        try:
            document = orjson.loads(self._state_file.read_bytes())
            with self._engine_lock:
                restored = self.engine.restore_anomaly_states(document)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError, KeyError, TypeError):
            log.exception("could not read %s; the detectors start from the warm-up alone", self._state_file)
            return 0
        log.info("restored %d anomaly detectors from %s", restored, self._state_file)
        return restored

    def save_anomaly_state(self) -> None:
        """Write the detectors' state atomically (a crash mid-write leaves the previous file)."""
        with self._engine_lock:
            payload = orjson.dumps(self.engine.anomaly_states())
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self._state_file.with_suffix(".json.partial")
        partial.write_bytes(payload)
        partial.replace(self._state_file)

    def start(self) -> None:
        self._load_registry()
        self.load_anomaly_state()
        self.policy.refresh_maintenance(datetime.now(UTC))
        client = make_client(
            self.settings.broker, client_id=self.settings.client_id, clean_session=False, manual_ack=True
        )
        client.on_connect = self._on_connect
        client.on_disconnect = lambda *_: self._connected.clear()  # /readyz: "not connected to the broker"
        client.on_message = self._on_message
        self._client = client
        connect_and_wait(client, self.settings.broker)
        gained = self.leases.balance().gained
        self._take(set(gained), settle=self.per_device)
        self.learn_feedback()  # after the warm-up: what operators taught survives a restart
        self.health.start()
        self._timer = threading.Thread(target=self._timer_loop, name="analytics-timer", daemon=True)
        self._timer.start()
        log.info(
            "analytics watching %d of %d partitions (%d rules)",
            len(self._live),
            self.settings.partitions,
            len(self.rules),
        )

    def stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join(timeout=10)
        try:
            self.positions.commit()
        except Exception:
            log.exception("could not commit analytics positions on the way out")
        self.health.stop()
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        self.leases.close()
        try:
            self.save_anomaly_state()
        except OSError:
            log.exception("could not save the anomaly detectors' state")

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the service is fatally broken (True) or the timeout passes (False)."""
        return self.fatal_event.wait(timeout_s)

    def _fail(self, reason: str) -> None:
        if self.fatal is None:
            self.fatal = reason
            log.error("analytics is fatally broken: %s", reason)
        self.fatal_event.set()

    # ------------------------------------------------------------------ health

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        with self._state_lock:
            details: dict[str, Any] = {"partitions": sorted(self._live), "warming": sorted(self._warming)}
        if self.fatal is not None:
            return False, {**details, "reason": self.fatal}
        if not self._connected.is_set():
            return False, {**details, "reason": "not connected to the broker"}
        if self.db_down_since is not None:
            down = round(time.monotonic() - self.db_down_since)
            return False, {**details, "reason": f"the tickets database has refused writes for {down}s"}
        if self._timer is None or not self._timer.is_alive():
            return False, {**details, "reason": "the timer thread is not running"}
        return True, details

    def metrics(self) -> dict[str, float]:
        with self._state_lock:
            owned = len(self._live)
        return {
            "readings_received": self.readings_seen,
            "readings_replayed": self.replayed,
            "readings_warmed": self.warmed,
            "readings_failed": self.engine.failed,
            "findings": self.findings,
            "takeovers": self.takeovers,
            "partitions_owned": owned,
            "ready": 1.0 if self.readiness()[0] else 0.0,
        }

    # ------------------------------------------------------------------ MQTT

    def _on_connect(self, client: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if rc.is_failure:
            log.warning("broker refused analytics: %s", rc)
            return
        self._generation += 1
        self._connected.set()
        if not self.per_device:
            client.subscribe(wire.READINGS_FILTER, qos=1)
            return
        with self._state_lock:
            owned = set(self._live) | set(self._warming)
        self._subscribe(self._devices_in(owned))

    def _subscribe(self, devices: list[str]) -> None:
        if self._client is None or not devices:
            return
        for start in range(0, len(devices), _SUBSCRIBE_CHUNK):
            chunk = devices[start : start + _SUBSCRIBE_CHUNK]
            self._client.subscribe([(wire.readings_topic(d), 1) for d in chunk])
        self._subscribed.update(devices)

    def _unsubscribe(self, devices: list[str]) -> None:
        if self._client is None or not devices:
            return
        for start in range(0, len(devices), _SUBSCRIBE_CHUNK):
            self._client.unsubscribe([wire.readings_topic(d) for d in devices[start : start + _SUBSCRIBE_CHUNK]])
        self._subscribed.difference_update(devices)

    def _ack(self, message: paho.MQTTMessage, generation: int) -> None:
        # A message of an older connection is redelivered on this one; that copy gets the ack.
        if self._client is not None and message.qos > 0 and generation == self._generation:
            self._client.ack(message.mid, message.qos)

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        generation = self._generation
        device_id = wire.device_from_topic(message.topic)
        if device_id is None:
            self._ack(message, generation)
            return
        partition = partition_of(device_id, self.settings.partitions)
        with self._state_lock:
            if partition in self._warming:
                self._warming[partition].append((message, generation))  # handled (and acknowledged) after the replay
                return
            owned = partition in self._live
        if not owned:
            self._ack(message, generation)  # another process owns it and replays it from the store
            return
        try:
            self._handle(message, device_id)
        except _FatalError:
            return  # not acknowledged: the broker redelivers it to the restarted process
        self._ack(message, generation)

    def _handle(self, message: paho.MQTTMessage, device_id: str) -> None:
        result = wire.parse_pack(message.payload, device_id=device_id)
        self.rejected += len(result.rejections)  # ingest dead-letters them; here they are only skipped
        received_ms = round(time.time() * 1000)
        replayed = self._replayed.get(device_id)
        with log_context(device_id=device_id):
            for reading in result.readings:
                if replayed is not None:
                    if (reading.quantity, reading.time_ms) in replayed:
                        continue
                    if reading.time_ms > max(t for _q, t in replayed):
                        self._replayed.pop(device_id, None)
                        replayed = None
                self.readings_seen += 1
                with self._engine_lock:
                    findings = self.engine.process(reading, received_ms=received_ms)
                self._commit(findings)
                self.positions.advance(device_id, reading.time_ms)

    # ------------------------------------------------------------------ tickets

    def _commit(self, findings: list[Finding]) -> None:
        """Every finding's ticket change committed before returning; retried while the database is
        down, fatal after `store_outage_s`."""
        for finding in findings:
            self.findings += 1
            began: float | None = None
            delay = 0.5
            while True:
                try:
                    self.policy.observe(finding)
                    break
                except Exception as exc:
                    now = time.monotonic()
                    began = began if began is not None else now
                    self.db_down_since = began
                    if now - began >= self.settings.store_outage_s:
                        self._fail(f"the tickets database refused writes for {round(now - began)}s: {exc}")
                        raise _FatalError from exc
                    log.warning("ticket policy failed on %s, retrying in %.1fs: %s", finding.dedupe_key, delay, exc)
                    if self._stop.wait(delay):
                        raise _FatalError from exc
                    delay = min(delay * 2, 10.0)
            self.db_down_since = None

    def _publish(self, change: TicketChange) -> None:
        if self._client is None:
            return
        self._client.publish(wire.TICKETS_TOPIC, wire.ticket_event_payload(change.event, change.summary), qos=1)

    # ------------------------------------------------------------------ taking and giving back

    def _take(self, partitions: set[int], *, settle: bool) -> None:
        if not partitions:
            return
        with self._state_lock:
            for partition in partitions:
                self._warming.setdefault(partition, [])
        began = time.monotonic()
        devices = self._devices_in(partitions)
        if self.per_device:
            self._subscribe(devices)
        if settle and self.settings.takeover_settle_s > 0:
            self._stop.wait(self.settings.takeover_settle_s)
        self._catch_up(devices, all_devices=not self.per_device)
        with self._state_lock:
            waiting = [m for p in partitions for m in self._warming.pop(p, [])]
            self._live.update(partitions)
            for message, generation in waiting:
                device_id = wire.device_from_topic(message.topic)
                if device_id is None:
                    continue
                try:
                    self._handle(message, device_id)
                except _FatalError:
                    return
                self._ack(message, generation)
        self.takeovers += 1
        log.info(
            "took %d partitions (%d devices) in %.1fs: %d readings warmed, %d replayed",
            len(partitions),
            len(devices),
            time.monotonic() - began,
            self.warmed,
            self.replayed,
        )

    def _catch_up(self, devices: list[str], *, all_devices: bool) -> None:
        """Warm the detectors on the store up to each device's position, replay the rest with findings."""
        now_ms = round(time.time() * 1000)
        start_ms = now_ms - round(self.settings.warmup_s * 1000)
        positions = self.positions.load(devices)
        self._prepare_models()
        store = open_store(self.settings.timeseries_url)
        try:
            series = self._series(store, devices, all_devices)
            for device_id, quantities in series.items():
                position = positions.get(device_id)
                begin = start_ms if position is None else min(start_ms, position + 1)
                self._catch_up_device(store, device_id, quantities, begin, now_ms + _DAY_MS, position)
        finally:
            store.close()
        self._finish_models()
        with self._engine_lock:
            self.engine.silence.restart(now_ms)

    @staticmethod
    def _series(store: TimeSeriesStore, devices: list[str], all_devices: bool) -> dict[str, list[str]]:
        wanted = set(devices)
        found: dict[str, list[str]] = defaultdict(list)
        for latest in store.latest():
            if all_devices or latest.device_id in wanted:
                found[latest.device_id].append(latest.quantity)
        return found

    def _catch_up_device(
        self,
        store: TimeSeriesStore,
        device_id: str,
        quantities: Iterable[str],
        begin: int,
        end: int,
        position: int | None,
    ) -> None:
        from analytics.warmup import series_readings

        readings = sorted(
            (r for q in quantities for r in series_readings(store, device_id, q, begin, end)),
            key=lambda r: (r.time_ms, r.quantity),
        )
        if not readings:
            return
        replay = [r for r in readings if position is not None and r.time_ms > position]
        warm = [r for r in readings if position is None or r.time_ms <= position]
        with self._engine_lock:
            self.engine.forget(device_id)
            self.warmed += self.engine.warm(self._collector.tee(warm) if self._collector else warm)
        with self._engine_lock:
            for lesson in self._lessons.get(device_id, []):
                self.engine.teach(lesson.device_id, lesson.quantity, lesson.deviation)
        if position is None:
            self.positions.advance(device_id, warm[-1].time_ms)
        with log_context(device_id=device_id):
            for reading in replay:
                with self._engine_lock:
                    findings = self.engine.process(reading)
                self._commit(findings)
                self.positions.advance(device_id, reading.time_ms)
                self.replayed += 1
        if replay:
            self._replayed[device_id] = {(r.quantity, r.time_ms) for r in replay}

    def _models_folder(self) -> Any:
        return self.settings.models_dir or self.settings.data_dir / "models"

    def _prepare_models(self) -> None:
        """Saved batch models, or collect the first warm-up's windows to train them."""
        if self._models_ready or self._collector is not None:
            return
        from analytics.models import WindowCollector, load_models

        models = load_models(self._models_folder())
        if models or self.settings.warmup_s <= 0:
            self.engine.models = models
            self._models_ready = True
        else:
            self._collector = WindowCollector(self.engine.meta)

    def _finish_models(self) -> None:
        if self._collector is None:
            return
        from analytics.models import save_models, train_models

        models = train_models(self._collector)
        save_models(models, self._models_folder())
        self._collector = None
        self._models_ready = True
        self.engine.models = models
        log.info("trained %d batch models from the warm-up", len(models))

    def _release(self, partitions: list[int]) -> None:
        """Give partitions back: stop processing, unsubscribe, commit positions, then unlock."""
        with self._state_lock:
            for partition in partitions:
                self._live.discard(partition)
                self._warming.pop(partition, None)
        devices = self._devices_in(set(partitions))
        self._unsubscribe(devices)
        self.positions.commit(devices)
        with self._engine_lock:
            for device_id in devices:
                self.engine.forget(device_id)
        self.positions.forget(devices)
        for partition in partitions:
            self.leases.release(partition)
        log.info("gave back %d partitions (%d devices)", len(partitions), len(devices))

    def _lose_everything(self) -> None:
        """The lease connection broke: another process may hold our partitions now."""
        with self._state_lock:
            lost = sorted(self._live | set(self._warming))
            self._live.clear()
            self._warming.clear()
        devices = self._devices_in(set(lost))
        self._unsubscribe(devices)
        with self._engine_lock:
            for device_id in devices:
                self.engine.forget(device_id)
        self.positions.forget(devices)
        log.warning("lost the partition leases (%d partitions); taking a share again", len(lost))

    # ------------------------------------------------------------------ the timer

    def _timer_loop(self) -> None:
        try:
            self._timer_rounds()
        except BaseException as exc:  # a dead timer means no takeover, no resolving: say so and exit
            self._fail(f"the timer thread died: {exc!r}")
            raise

    def _timer_rounds(self) -> None:
        s = self.settings
        resolve_every = min(10.0, s.quiet_period_s / 4)
        due = dict.fromkeys(("lease", "positions", "registry", "resolve"), time.monotonic())
        due["registry"] += s.registry_refresh_s
        due["resolve"] += resolve_every
        while not self._stop.wait(0.5):
            now = time.monotonic()
            if now >= due["lease"]:
                due["lease"] = now + s.lease_check_s
                self._balance()
            if now >= due["positions"]:
                due["positions"] = now + s.position_commit_s
                self._try("committing positions", self.positions.commit)
            if now >= due["registry"]:
                due["registry"] = now + s.registry_refresh_s
                self._try("refreshing the device registry", self.refresh_registry)
            if now >= due["resolve"]:
                due["resolve"] = now + resolve_every
                self._try("resolving quiet tickets", self._resolve)

    def _try(self, what: str, action: Any) -> None:
        try:
            action()
        except Exception:
            log.exception("%s failed", what)

    def _balance(self) -> None:
        try:
            outcome = self.leases.balance()
        except Exception as exc:
            log.warning("balancing partition leases failed: %s", exc)
            self._lose_everything()
            return
        if outcome.to_release:
            self._try("giving partitions back", lambda: self._release(outcome.to_release))
        if outcome.gained:
            self._take(set(outcome.gained), settle=self.per_device)

    def _resolve(self) -> None:
        now = datetime.now(UTC)
        with self._engine_lock:
            findings = self.engine.tick(round(now.timestamp() * 1000))
        try:
            self._commit(findings)
        except _FatalError:
            return
        self.policy.refresh_maintenance(now)
        self.policy.resolve_quiet(now)
        self.learn_feedback()
        if time.monotonic() - self._saved_at >= _SAVE_EVERY_S:
            self._saved_at = time.monotonic()
            self._try("saving the anomaly detectors' state", self.save_anomaly_state)

    def learn_feedback(self) -> int:
        """Teach the detectors the operators' new false-alarm marks (for devices this process owns);
        returns how many marks were new."""
        lessons = self.feedback.new()
        mine = [lesson for lesson in lessons if not self.per_device or self._owns(lesson.device_id)]
        with self._engine_lock:
            for lesson in lessons:
                self._lessons[lesson.device_id].append(lesson)
            for lesson in mine:
                self.engine.teach(lesson.device_id, lesson.quantity, lesson.deviation)
        return len(lessons)

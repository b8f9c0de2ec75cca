"""A broken ingest says why on `/readyz` and exits non-zero; a short outage is ridden out. Real processes.

Each test ends as the fault tests do: what the store holds is exactly what was published, once,
after a fresh ingest process took over from the one that gave up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from citysense import wire
from citysense.timeseries import open_store
from tests.ingest.helpers import stream
from tests.ingest.test_faults import START_MS, assert_stored_exactly, publish_all
from tests.support.influxdb import influxdb
from tests.support.mqtt import wait_until
from tests.support.servers import free_port

# A processor with a bug (a deployment's own step): it fails on one device's readings.
POISONED_INGEST = """
import sys
from citysense.runtime import run_until_signal, setup_logging
from citysense.settings import IngestSettings
from ingest.service import IngestService

class Buggy:
    def apply(self, batch):
        if any(r.device_id == "dev-1" for r in batch.readings):
            raise KeyError("a bug in a processor")
        return batch

setup_logging("INFO")
service = IngestService(IngestSettings(), processors=[Buggy()])
run_until_signal([service])
sys.exit(1 if service.fatal_reason else 0)
"""


class Ingest:
    """`citysense ingest` (or a script) as its own process, with its metrics port."""

    def __init__(self, tmp: Path, broker_url: str, store_url: str, client_id: str, **settings: str) -> None:
        self.port = free_port()
        self.log = tmp / f"ingest-{uuid.uuid4().hex[:6]}.log"
        self.env = {
            **os.environ,
            "CITYSENSE_BROKER__URL": broker_url,
            "CITYSENSE_TIMESERIES_URL": store_url,
            "CITYSENSE_DATA_DIR": str(tmp),
            "CITYSENSE_CLIENT_ID": client_id,
            "CITYSENSE_BATCH_SIZE": "20",
            "CITYSENSE_METRICS_PORT": str(self.port),
            **{f"CITYSENSE_{k.upper()}": v for k, v in settings.items()},
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, script: str | None = None) -> Ingest:
        command = [sys.executable, "-c", script] if script else [sys.executable, "-m", "citysense.cli", "ingest"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, env=self.env, stdout=out, stderr=out)
        wait_until(lambda: self.readyz() is not None, what="ingest serving /readyz")
        return self

    def readyz(self) -> tuple[int, Mapping[str, Any]] | None:
        try:
            response = httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2)
        except httpx.TransportError:
            return None
        return response.status_code, response.json()

    def wait_for_state(self, status: int, text: str = "", timeout_s: float = 60) -> Mapping[str, Any]:
        seen: list[Mapping[str, Any]] = []

        def matches() -> bool:
            answer = self.readyz()
            if answer is None or answer[0] != status:
                return False
            seen.append(answer[1])
            return any(text in reason for reason in answer[1]["reasons"]) if text else True

        wait_until(matches, timeout_s=timeout_s, what=f"/readyz {status} {text!r}")
        return seen[-1]

    def exit_code(self, timeout_s: float = 60) -> int:
        assert self.process is not None
        return self.process.wait(timeout_s)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _count(store_url: str) -> int:
    store = open_store(store_url)
    try:
        return store.count()
    finally:
        store.close()


def test_a_short_store_outage_is_ridden_out_and_a_long_one_ends_ingest_nonzero(broker, tmp_path):
    with influxdb(tmp_path / "influx") as server:
        url = server.url()
        client_id = f"ingest-{uuid.uuid4().hex[:6]}"
        first = Ingest(tmp_path, broker.url, url, client_id, store_outage_s="20").start()
        try:
            first.wait_for_state(200)
            part1 = stream(devices=2, packs=20, pack_size=10)
            publish_all(broker.settings, part1)
            wait_until(lambda: _count(url) == 400, what="first part stored")

            server.stop()  # a short outage: under the limit
            part2 = stream(devices=2, packs=20, pack_size=10, start_ms=START_MS + 1_000_000)
            publish_all(broker.settings, part2)
            degraded = first.wait_for_state(503, "the store has refused writes")
            assert degraded["fatal"] is False
            server.start()
            wait_until(lambda: _count(url) == 800, timeout_s=60, what="backlog stored after the short outage")
            first.wait_for_state(200)
            assert first.process is not None
            assert first.process.poll() is None, "ingest gave up on an outage shorter than the limit"

            server.stop()  # a long outage: over the limit
            part3 = stream(devices=2, packs=20, pack_size=10, start_ms=START_MS + 2_000_000)
            publish_all(broker.settings, part3)
            first.wait_for_state(503, "the store has refused writes")
            assert first.exit_code(timeout_s=90) == 1
        finally:
            first.stop()
        assert "ingest stopped: the store has refused writes for" in first.output()

        server.start()
        second = Ingest(tmp_path, broker.url, url, client_id).start()
        try:
            wait_until(lambda: _count(url) == 1200, timeout_s=60, what="everything stored by the next ingest")
        finally:
            assert second.stop() == 0
        store = open_store(url)
        try:
            assert_stored_exactly(store, {t: part1[t] + part2[t] + part3[t] for t in part1})
        finally:
            store.close()


def test_a_registry_database_that_keeps_failing_ends_ingest_nonzero_and_loses_nothing(broker, tmp_path):
    store_url = f"sqlite:///{tmp_path / 'ts.db'}"
    unreachable = f"postgresql+psycopg://citysense@127.0.0.1:{free_port()}/citysense"  # nothing listens there
    ingest = Ingest(
        tmp_path,
        broker.url,
        store_url,
        f"ingest-{uuid.uuid4().hex[:6]}",
        tickets_url=unreachable,
        registry_refresh_s="1",
        store_outage_s="4",
    ).start()
    try:
        state = ingest.wait_for_state(503, "the device registry has failed")
        wait_until(lambda: "not connected to the broker" not in ingest.readyz()[1]["reasons"], what="subscribed")
        payloads = stream(devices=2, packs=10, pack_size=10)
        publish_all(broker.settings, payloads)
        assert any("OperationalError" in reason for reason in state["reasons"])
        assert ingest.exit_code() == 1
    finally:
        ingest.stop()
    assert "ingest stopped: the device registry has failed for" in ingest.output()
    store = open_store(store_url)
    try:
        assert_stored_exactly(store, payloads)  # stored without district and kind meanwhile
    finally:
        store.close()


def test_a_thread_that_dies_ends_ingest_nonzero_and_the_next_one_stores_what_it_left(broker, tmp_path):
    store_url = f"sqlite:///{tmp_path / 'ts.db'}"
    client_id = f"ingest-{uuid.uuid4().hex[:6]}"
    buggy = Ingest(tmp_path, broker.url, store_url, client_id).start(POISONED_INGEST)
    try:
        buggy.wait_for_state(200)
        payloads = stream(devices=2, packs=10, pack_size=10)
        publish_all(broker.settings, {wire.readings_topic("dev-0"): payloads[wire.readings_topic("dev-0")]})
        wait_until(lambda: _count(store_url) == 100, what="dev-0 stored")
        publish_all(broker.settings, {wire.readings_topic("dev-1"): payloads[wire.readings_topic("dev-1")]})
        assert buggy.exit_code() == 1
    finally:
        buggy.stop()
    assert "thread ingest-batcher died: KeyError" in buggy.output()
    assert _count(store_url) == 100

    fixed = Ingest(tmp_path, broker.url, store_url, client_id).start()
    try:
        wait_until(lambda: _count(store_url) == 200, what="the dead worker's messages stored by the next one")
    finally:
        assert fixed.stop() == 0
    store = open_store(store_url)
    try:
        assert_stored_exactly(store, payloads)
    finally:
        store.close()


def test_readyz_answers_ready_while_ingest_works(broker, tmp_path):
    ingest = Ingest(tmp_path, broker.url, f"sqlite:///{tmp_path / 'ts.db'}", "ingest-ok").start()
    try:
        state = ingest.wait_for_state(200)
        assert state == {"ready": True, "fatal": False, "reasons": []}
        publish_all(broker.settings, stream(devices=1, packs=2, pack_size=5))
        wait_until(lambda: _count(f"sqlite:///{tmp_path / 'ts.db'}") == 10, what="stored")
        assert ingest.readyz() == (200, {"ready": True, "fatal": False, "reasons": []})
    finally:
        assert ingest.stop() == 0

"""The reliability chain end to end, on a locked-down broker: two broker restarts and a 60 s outage,
every reading in the store exactly once."""

from __future__ import annotations

import getpass
import time

import pytest

from citysense.db import connect
from citysense.provisioning.registry import BrokerFiles, add_device, add_service
from citysense.settings import BrokerSettings, IngestSettings
from citysense.timeseries import open_store
from edge.agent import Agent
from ingest.worker import IngestWorker
from tests.edge.conftest import make_config
from tests.support.mqtt import wait_until
from tests.support.servers import mosquitto


@pytest.mark.slow
def test_every_reading_arrives_once_through_two_restarts_and_a_60s_outage(tmp_path):
    files = BrokerFiles(tmp_path / "passwd", tmp_path / "acl")
    sessions = connect(f"sqlite:///{tmp_path / 'citysense.db'}")
    device_password = add_device(sessions, files, "river-01", district="Sungai Barat", kind="water")
    ingest_password = add_service(sessions, files, "citysense-ingest")
    # `user`: a broker started as root would drop to "mosquitto" and lose read access to the 0600 file.
    extra = f"user {getpass.getuser()}\npassword_file {files.password_file}\nacl_file {files.acl_file}\n"
    with mosquitto(tmp_path / "broker", allow_anonymous=False, persistence=True, extra_config=extra) as broker:
        ingest_settings = IngestSettings(
            data_dir=tmp_path,
            broker=BrokerSettings(url=broker.url, username="citysense-ingest", password=ingest_password),
            client_id="ingest-outage",
            # A plain persistent subscription: Mosquitto 2.0 does not restore shared subscriptions from
            # its persistence file, so packs the broker took while ingest was reconnecting would be lost.
            shared_subscription=False,
        )
        store = open_store(ingest_settings.timeseries_url)
        worker = IngestWorker(ingest_settings, store)
        worker.start()
        config = make_config(
            tmp_path,
            broker.url,
            broker={"url": broker.url, "password": device_password, "keepalive_s": 5},
            reconnect={"initial_s": 0.5, "max_s": 4.0},
            sensors=[
                {
                    "name": "level",
                    "driver": "virtual",
                    "quantity": "water_level",
                    "base": 1.2,
                    "noise": 0.05,
                    "interval_s": 0.1,
                    "samples": 1,
                }
            ],
        )
        agent = Agent(config)
        agent.start()
        try:
            for pause_s in (0.5, 0.5, 60.0):  # restart, restart, then a minute without a broker
                time.sleep(4)
                broker.stop()
                time.sleep(pause_s)
                broker.start()
            time.sleep(4)
            agent.sampler.stop()  # stop producing; everything produced must now arrive
            queued = agent.readings_queued
            # Ingest reconnects with a backoff of up to 30 s (citysense.mqtt), so after the minute's
            # outage its backlog may start late; on a loaded machine 60 s was seen to be too short.
            try:
                wait_until(lambda: agent.queue.depth == 0, 150, "the agent's queue drained")
                wait_until(lambda: store.count() >= queued, 150, f"{queued} readings in the store")
            except AssertionError as exc:
                raise AssertionError(
                    f"{exc}: stored={store.count()} queue_depth={agent.queue.depth} "
                    f"agent={agent.link.counters} ingest={worker.counters.snapshot()}"
                ) from exc
            queue_counters = agent.queue.counters()
        finally:
            agent.stop()
            worker.stop()
        stored = store.count()
        store.close()
    ingest = worker.counters.snapshot()
    print(
        f"outage test: queued={queued} stored={stored} dropped={queue_counters['dropped_readings']} "
        f"connects={agent.link.counters.connects} published={agent.link.counters.published_packs} "
        f"acked={agent.link.counters.acked_packs} ingest={ingest}"
    )
    assert stored == queued  # every reading, once
    assert queue_counters["dropped_readings"] == 0
    assert agent.link.counters.connects >= 4  # the first connection and one after each of the three outages

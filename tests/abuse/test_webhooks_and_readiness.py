"""Webhooks against the real process: SSRF refused in every spelling, a tarpit delays no other subscriber;
and /readyz names the store that does not answer (routes needing it answer 503)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from citysense.db.models import WebhookDelivery
from citysense.wire import Reading
from tests.abuse.conftest import TOKEN, Api, api_process
from tests.api.support import sensor_ticket
from tests.support.servers import free_port

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SPELLINGS = [
    "http://127.0.0.1/h",
    "http://127.1/h",
    "http://0x7f000001/h",
    "http://017700000001/h",
    "http://localhost/h",
    "http://[::1]/h",
    "http://[::ffff:7f00:1]/h",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/h",
    "http://10.1.2.3/h",
    "http://100.64.0.1/h",
]


def test_ssrf_targets_are_refused_in_every_spelling(api: Api):
    with api.client(headers=AUTH) as client:
        codes = {url: client.post("/api/v1/webhooks", json={"url": url}).status_code for url in SPELLINGS}
        assert client.get("/api/v1/webhooks").json() == []
    assert codes == dict.fromkeys(SPELLINGS, 422)


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Tarpit:
    """Accepts every connection and answers none, until closed."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.hanging = threading.Event()
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        held = []
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            held.append(conn)
            self.hanging.set()

    def close(self) -> None:
        self.done.set()
        self.sock.close()


@pytest.fixture
def receivers() -> Iterator[tuple[Tarpit, Receiver]]:
    tarpit, receiver = Tarpit(), Receiver()
    yield tarpit, receiver
    tarpit.close()
    receiver.close()


def test_a_tarpit_subscriber_delays_no_other_in_the_running_api(tmp_path: Path, tickets_url: str, receivers):
    tarpit, receiver = receivers
    settings = {
        "CITYSENSE_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',  # the operator allows the loopback receivers
        "CITYSENSE_WEBHOOK_POLL_S": "0.2",
        "CITYSENSE_WEBHOOK_TIMEOUT_S": "120",
    }
    with api_process(tmp_path, tickets_url, **settings) as api, api.client(headers=AUTH) as client:
        for url in (tarpit.url, receiver.url):
            assert client.post("/api/v1/webhooks", json={"url": url}).status_code == 201
        sessions = api.sessions
        city = type("C", (), {"sessions": sessions})()
        from citysense.db.devices import DeviceInfo, register_devices

        register_devices(sessions, [DeviceInfo("river-1", "riverside", "water")])
        sensor_ticket(city, Reading("river-1", "water_level", 3.0, int(time.time() * 1000)), "riverside")
        assert tarpit.hanging.wait(30)
        deadline = time.monotonic() + 30
        while not receiver.bodies and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(receiver.bodies) == 1  # delivered while the tarpit still holds the first subscriber's
        with sessions() as session:
            statuses = sorted(session.scalars(select(WebhookDelivery.status)))
        assert "pending" in statuses  # the tarpit's delivery: still waiting on its 120 s deadline


def test_readyz_names_the_store_that_does_not_answer(tmp_path: Path):
    tickets = f"sqlite:///{tmp_path / 'citysense.db'}"
    with api_process(tmp_path / "ok", tickets) as api, api.client() as client:
        assert client.get("/readyz").json()["status"] == "ready"
    nowhere = f"influxdb://127.0.0.1:{free_port()}/citysense?timeout_s=1"
    with api_process(tmp_path / "down", tickets, nowhere) as api, api.client() as client:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["checks"]["tickets_db"] == "ok"
        assert answer.json()["checks"]["timeseries"].startswith("error")
        down = client.get("/public/v1/export/readings.csv", params={"quantity": "pm25"})
        assert down.status_code == 503  # the store's trouble, said so: not a 500
        assert "try again" in down.json()["detail"]

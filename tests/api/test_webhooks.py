"""Webhooks: ticket events reach a real HTTP receiver, signed, and failed deliveries are retried."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.webhooks import WebhookDispatcher
from citysense.db.models import WebhookDelivery
from citysense.wire import Reading
from tests.api.support import key, sensor_ticket

# The test receivers listen on loopback, which the operator must allow explicitly.
LOOPBACK = "127.0.0.0/8"


class Receiver:
    """A real HTTP server on loopback that records deliveries and fails the first `fail_first` of them."""

    def __init__(self, fail_first: int = 0, host: str = "127.0.0.1", redirect_to: str | None = None) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if redirect_to is not None:
                    self.send_response(307)
                    self.send_header("Location", redirect_to)
                elif receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    self.send_response(503)
                else:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def client(settings, city) -> Iterator[TestClient]:
    """The app without its own dispatcher thread: each test drives one dispatcher by hand."""
    allowed = settings.model_copy(update={"webhooks_enabled": False, "webhook_allowed_networks": [LOOPBACK]})
    with TestClient(create_app(allowed)) as test_client:
        yield test_client


@pytest.fixture
def dispatcher(city) -> Iterator[WebhookDispatcher]:
    running = WebhookDispatcher(
        city.sessions, poll_s=60, max_attempts=3, backoff_s=10, timeout_s=5, allowed_networks=[LOOPBACK]
    )
    yield running
    running.stop()


def subscribe(client, headers, url, events=()):
    response = client.post("/api/v1/webhooks", headers=headers, json={"url": url, "events": list(events)})
    assert response.status_code == 201, response.text
    return response.json()


def test_ticket_events_are_delivered_signed(city, client, receiver, dispatcher):
    admin = key(city, "webhooks:manage", "tickets:write")
    hook = subscribe(client, admin, receiver.url)
    city.devices(("river-1", "riverside", "water"))
    opened = sensor_ticket(city, Reading("river-1", "water_level", 3.0, 1_790_000_000_000), "riverside")
    assert opened is not None
    client.post(f"/api/v1/tickets/{opened.ticket_id}/acknowledge", headers=admin)
    client.post(f"/api/v1/tickets/{opened.ticket_id}/comment", headers=admin, json={"message": "internal only"})

    assert dispatcher.run_once() == 2
    events = []
    for headers, body in receiver.received:
        expected = hmac.new(
            hook["secret"].encode(), headers["x-citysense-timestamp"].encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        assert headers["x-citysense-signature"] == f"sha256={expected}"
        payload = json.loads(body)
        assert payload["event"] == headers["x-citysense-event"]
        assert payload["ticket"]["id"] == opened.ticket_id
        assert payload["ticket"]["agency"] == "water"
        events.append(payload["event"])
    assert events == ["opened", "acknowledged"]  # the internal comment is not sent
    assert dispatcher.run_once() == 0  # nothing twice


def test_failed_deliveries_are_retried_with_backoff_then_given_up(city, client, dispatcher):
    flaky = Receiver(fail_first=1)
    dead = Receiver(fail_first=100)
    try:
        admin = key(city, "webhooks:manage")
        subscribe(client, admin, flaky.url, events=["opened"])
        subscribe(client, admin, dead.url)
        city.devices(("river-1", "riverside", "water"))
        sensor_ticket(city, Reading("river-1", "water_level", 3.0, 1_790_000_000_000), "riverside")
        now = datetime.now(UTC)

        assert dispatcher.run_once(now) == 0  # both fail the first time
        assert dispatcher.run_once(now + timedelta(seconds=5)) == 0  # backoff: not due yet (10 s)
        assert dispatcher.run_once(now + timedelta(seconds=11)) == 1  # the flaky one recovers
        assert len(flaky.received) == 1
        assert dispatcher.run_once(now + timedelta(seconds=35)) == 0  # 3rd and last try of the dead one
        assert dispatcher.run_once(now + timedelta(hours=2)) == 0  # given up: no 4th try
        assert dead.fail_first == 100 - 3
    finally:
        flaky.close()
        dead.close()


def test_webhook_urls_are_validated_and_agency_keys_get_only_their_events(city, client, receiver, dispatcher):
    bad = client.post("/api/v1/webhooks", headers=key(city, "webhooks:manage"), json={"url": "not a url"})
    assert bad.status_code == 422
    environment = key(city, "webhooks:manage", agency="environment")
    hook = subscribe(client, environment, receiver.url)
    assert hook["agency"] == "environment"
    city.devices(("river-1", "riverside", "water"), ("air-1", "riverside", "air"))
    sensor_ticket(city, Reading("river-1", "water_level", 3.0, 1_790_000_000_000), "riverside")
    sensor_ticket(city, Reading("air-1", "pm25", 90.0, 1_790_000_000_000), "riverside")
    assert dispatcher.run_once() == 1
    assert json.loads(receiver.received[0][1])["ticket"]["service_code"] == "air_quality"
    assert client.delete(f"/api/v1/webhooks/{hook['id']}", headers=environment).status_code == 204
    assert client.get("/api/v1/webhooks", headers=environment).json() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1/hook",
        "http://0x7f000001/hook",
        "http://2130706433/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7/hook",
        "http://192.168.1.1/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_subscribing_a_loopback_private_or_link_local_url_is_refused(settings, city, url):
    with TestClient(create_app(settings.model_copy(update={"webhooks_enabled": False}))) as plain:
        refused = plain.post("/api/v1/webhooks", headers=key(city, "webhooks:manage"), json={"url": url})
    assert refused.status_code == 422
    assert "webhook URL refused" in refused.json()["detail"]
    assert "address" in refused.json()["detail"]


def _one_ticket_event(city) -> None:
    city.devices(("river-1", "riverside", "water"))
    sensor_ticket(city, Reading("river-1", "water_level", 3.0, 1_790_000_000_000), "riverside")


def _deliveries(city) -> list[WebhookDelivery]:
    with city.sessions() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_target_is_checked_again_at_delivery_time(city, client, receiver):
    subscribe(client, key(city, "webhooks:manage"), receiver.url)  # allowed when subscribed
    _one_ticket_event(city)
    stricter = WebhookDispatcher(city.sessions, poll_s=60, max_attempts=3, backoff_s=10, timeout_s=5)
    assert stricter.run_once() == 0  # the operator no longer allows loopback: nothing is sent
    assert receiver.received == []
    (delivery,) = _deliveries(city)
    assert delivery.status == "failed"
    assert "refused target" in (delivery.last_error or "")
    assert "loopback" in (delivery.last_error or "")


def test_every_redirect_is_checked_and_allowed_ones_are_followed(city, client, receiver):
    hop = Receiver(host="127.0.0.2", redirect_to=receiver.url)
    try:
        subscribe(client, key(city, "webhooks:manage"), hop.url)
        _one_ticket_event(city)
        only_hop = WebhookDispatcher(
            city.sessions, poll_s=60, max_attempts=3, backoff_s=10, timeout_s=5, allowed_networks=["127.0.0.2/32"]
        )
        assert only_hop.run_once() == 0  # the redirect leads to 127.0.0.1, which is not allowed
        assert receiver.received == []
        assert "127.0.0.1" in (_deliveries(city)[0].last_error or "")

        ticket_id = client.get("/api/v1/tickets", headers=key(city, "tickets:read")).json()["data"][0]["id"]
        client.post(f"/api/v1/tickets/{ticket_id}/acknowledge", headers=key(city, "tickets:write"))
        both = WebhookDispatcher(
            city.sessions, poll_s=60, max_attempts=3, backoff_s=10, timeout_s=5, allowed_networks=[LOOPBACK]
        )
        assert both.run_once() == 1  # the acknowledgement; the refused delivery is not tried again
        assert len(receiver.received) == 1  # followed 307 to the allowed receiver, body and signature intact
        assert receiver.received[0][0]["x-citysense-signature"].startswith("sha256=")
    finally:
        hop.close()


class Tarpit:
    """Accepts connections and never answers, until released."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.hanging = threading.Event()
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        conn.recv(65536)
        self.hanging.set()
        self.released.wait(60)
        conn.close()

    def close(self) -> None:
        self.released.set()
        self.sock.close()


def test_a_tarpit_subscriber_delays_no_other(city, client, receiver):
    tarpit = Tarpit()
    running = WebhookDispatcher(
        city.sessions, poll_s=0.2, max_attempts=3, backoff_s=10, timeout_s=60, allowed_networks=[LOOPBACK]
    )
    try:
        admin = key(city, "webhooks:manage")
        subscribe(client, admin, tarpit.url)  # first in line
        subscribe(client, admin, receiver.url)
        _one_ticket_event(city)
        running.start()
        assert tarpit.hanging.wait(20)
        deadline = time.monotonic() + 20
        while "delivered" not in {d.status for d in _deliveries(city)} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(receiver.received) == 1  # delivered while the tarpit still holds its own delivery
        assert not tarpit.released.is_set()
        assert sorted(d.status for d in _deliveries(city)) == ["delivered", "pending"]
    finally:
        tarpit.close()
        running.stop()

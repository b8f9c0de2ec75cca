"""Oversize bodies, forged X-Forwarded-For, hostile browsers and injection strings against the real process."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from api.secheaders import CONTENT_SECURITY_POLICY
from tests.abuse.conftest import TOKEN, Api, api_process

MB = 1024 * 1024


def _raw(api: Api, head: str) -> socket.socket:
    port = int(api.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head.encode())
    return sock


def _status(sock: socket.socket) -> tuple[int, bytes]:
    """The response's status and bytes, its body read to its Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]), data


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def test_a_100_mb_unauthenticated_body_is_refused_before_it_is_sent(api: Api):
    before = api.peak_rss_bytes()
    sock = _raw(
        api,
        "POST /api/v1/webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {100 * MB}\r\n\r\n",
    )
    with sock:
        status, answer = _status(sock)  # answered with not one byte of the body sent
    assert status == 413
    assert b"larger than" in answer
    assert api.peak_rss_bytes() - before < 5 * MB


def test_a_chunked_body_is_cut_off_at_the_limit(api: Api):
    before = api.peak_rss_bytes()
    sock = _raw(
        api,
        "POST /api/v1/webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
    )
    chunk = b"%x\r\n" % (256 * 1024) + b"x" * (256 * 1024) + b"\r\n"
    sent = 0
    with sock:
        try:
            while sent < 100 * MB:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed: it reads no more
        status, _ = _status(sock)
    assert status == 413
    assert sent < 50 * MB  # the server stopped reading long before the 100 MB were through
    assert api.peak_rss_bytes() - before < 20 * MB


def test_the_rate_limit_ignores_forwarded_for_from_untrusted_peers(tmp_path: Path, tickets_url: str):
    limits = {"CITYSENSE_RATE_LIMIT_BURST": "3", "CITYSENSE_RATE_LIMIT_PER_S": "0.01"}
    with api_process(tmp_path, tickets_url, **limits) as api, api.client() as client:
        codes = [
            client.get("/public/v1/tickets", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(6)
        ]
    assert codes == [200, 200, 200, 429, 429, 429]  # one loopback client, whatever it claims


def test_the_rate_limit_reads_forwarded_for_from_trusted_proxies(tmp_path: Path, tickets_url: str):
    settings = {
        "CITYSENSE_RATE_LIMIT_BURST": "3",
        "CITYSENSE_RATE_LIMIT_PER_S": "0.01",
        "CITYSENSE_TRUSTED_PROXIES": '["127.0.0.1/32"]',
    }
    with api_process(tmp_path, tickets_url, **settings) as api, api.client() as client:
        many = [
            client.get("/public/v1/tickets", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(6)
        ]
        one = [
            client.get("/public/v1/tickets", headers={"X-Forwarded-For": "198.51.100.7, 127.0.0.1"}).status_code
            for _ in range(5)
        ]
    assert many == [200] * 6  # six residents behind the proxy
    assert one == [200, 200, 200, 429, 429]  # one resident, the trusted hop skipped


def test_headers_and_cors_on_the_real_process(api: Api):
    with api.client() as client:
        for path in ("/", "/public/v1/status", "/api/v1/tickets", "/open311/v2/services.json"):
            headers = client.get(path).headers
            assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert headers["x-frame-options"] == "DENY"
            assert headers["x-content-type-options"] == "nosniff"
            assert "referrer-policy" in headers
        preflight = client.options(
            "/api/v1/tickets",
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert "access-control-allow-origin" not in preflight.headers
        assert (
            client.get("/public/v1/tickets", headers={"Origin": "https://a.example"}).headers[
                "access-control-allow-origin"
            ]
            == "*"
        )


INJECTIONS = [
    "' OR 1=1 --",
    "../../../../etc/passwd",
    "\u202e\u0000",
    "9" * 400,
    "-1",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
]
ROUTES = {
    "/public/v1/export/readings.csv": ("quantity", "district", "start", "end", "bucket", "limit", "offset"),
    "/public/v1/tickets": ("status", "district", "limit", "offset"),
    "/api/v1/readings": ("device_id", "quantity", "start", "end", "bucket", "limit"),
    "/api/v1/anomalies": ("device_id", "since", "limit", "offset"),
    "/api/v1/audit": ("limit", "offset"),
}


def test_no_server_error_for_hostile_parameters(tmp_path: Path):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    base = {"quantity": "pm25", "device_id": "kota-lama-air-01"}
    errors = []
    with (
        api_process(tmp_path, f"sqlite:///{tmp_path / 'citysense.db'}", CITYSENSE_RATE_LIMIT_BURST="100000") as api,
        httpx.Client(base_url=api.url, timeout=30, headers=headers) as client,
    ):
        for path, names in ROUTES.items():
            for name in names:
                for value in INJECTIONS:
                    response = client.get(path, params={**base, name: value})
                    if response.status_code >= 500:
                        errors.append((path, name, value, response.status_code))
    assert errors == []

"""Atom feeds and CAP 1.2 warnings: every document checked against the OASIS CAP 1.2 schema."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import xmlschema
from fastapi.testclient import TestClient

from analytics.findings import Finding
from api.app import create_app
from citysense.settings import ApiSettings
from citysense.wire import Reading
from tests.api.support import key, policy_of, sensor_ticket
from tests.support.servers import free_port

CAP_SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "data" / "CAP-v1.2.xsd")
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"
SENDER = "peringatan@bpbd.kota.example.id"  # the city's CAP identifier (CITYSENSE_CAP_SENDER)


@pytest.fixture
def fresh(settings, city):
    """The app without caching, its CAP sender configured as a city would."""
    update = {"public_cache_s": 0, "ticket_events": False, "cap_sender": SENDER}
    with TestClient(create_app(settings.model_copy(update=update))) as c:
        yield c


def _atom(body: bytes) -> ET.Element:
    """A well-formed Atom feed with the elements RFC 4287 requires of a feed and of each entry."""
    feed = ET.fromstring(body)
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{required}") is not None, required
    assert feed.find(f"{ATOM}link[@rel='self']") is not None
    for entry in feed.findall(f"{ATOM}entry"):
        for required in ("id", "title", "updated"):
            assert (entry.findtext(f"{ATOM}{required}") or "").strip(), required
        assert entry.find(f"{ATOM}link[@rel='alternate']") is not None
        datetime.fromisoformat(entry.findtext(f"{ATOM}updated", "").replace("Z", "+00:00"))
    return feed


def _cap(fresh: TestClient, ticket_id: int) -> ET.Element:
    response = fresh.get(f"/public/v1/alerts/{ticket_id}.cap")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/cap+xml")
    CAP_SCHEMA.validate(response.content)  # raises with the schema's reason when invalid
    return ET.fromstring(response.content)


def _flood(city, value: float, severity: str, at_ms: int) -> int | None:
    """What analytics tells the ticket policy about a gauge over the flood level; the ticket if it changed."""
    change = policy_of(city).observe(
        Finding(
            service_code="flood",
            scope="district",
            kind="breach",
            district="sungai-barat",
            device_id="gauge-1",
            quantity="water_level",
            value=value,
            threshold=2.5,
            severity=severity,
            detector="threshold",
            score=value / 2.5,
            time_ms=at_ms,
            title="Flood risk in sungai-barat",
        )
    )
    return change.ticket_id if change is not None else None


def test_tickets_feed_lists_tickets_with_their_pages_and_filters_by_district_and_service(city, fresh):
    now = int(time.time() * 1000)
    city.devices(("gauge-1", "sungai-barat", "water"), ("air-1", "kota-lama", "air"))
    flood = sensor_ticket(city, Reading("gauge-1", "water_level", 3.0, now), "sungai-barat").ticket_id
    air = sensor_ticket(city, Reading("air-1", "pm25", 80.0, now), "kota-lama").ticket_id

    everything = fresh.get("/public/v1/tickets.atom")
    assert everything.headers["content-type"].startswith("application/atom+xml")
    feed = _atom(everything.content)
    links = [e.find(f"{ATOM}link[@rel='alternate']").get("href") for e in feed.findall(f"{ATOM}entry")]  # type: ignore[union-attr]
    assert links == [f"http://testserver/tickets/{air}", f"http://testserver/tickets/{flood}"]

    by_district = _atom(fresh.get("/public/v1/tickets.atom", params={"district": "sungai-barat"}).content)
    assert [e.findtext(f"{ATOM}id") for e in by_district.findall(f"{ATOM}entry")] == [
        f"http://testserver/tickets/{flood}"
    ]
    by_service = _atom(fresh.get("/public/v1/tickets.atom", params={"service_code": "air_quality"}).content)
    assert [e.find(f"{ATOM}category").get("term") for e in by_service.findall(f"{ATOM}entry")] == ["air_quality"]  # type: ignore[union-attr]
    assert (
        _atom(fresh.get("/public/v1/tickets.atom", params={"district": "nowhere"}).content).findall(f"{ATOM}entry")
        == []
    )
    refused = fresh.get("/public/v1/tickets.atom", params={"service_code": "dragons"})
    assert refused.status_code == 400
    assert "unknown service_code 'dragons'" in refused.json()["detail"]


def test_a_flood_warning_is_an_alert_then_an_update_when_the_stage_rises_then_a_cancel(city, fresh):
    city.devices(("gauge-1", "sungai-barat", "water"))
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    t0_ms = int(t0.timestamp() * 1000)
    ticket_id = _flood(city, 2.7, "high", t0_ms)
    assert ticket_id is not None
    # A resident's report is not a public warning.
    assert fresh.post("/report", data={"service_code": "drainage", "address_string": "Jl. Merdeka"}).status_code == 201

    feed = _atom(fresh.get("/public/v1/alerts.atom").content)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 1
    assert entries[0].find(f"{ATOM}link[@rel='alternate']").get("href") == (  # type: ignore[union-attr]
        f"http://testserver/public/v1/alerts/{ticket_id}.cap"
    )

    first = _cap(fresh, ticket_id)
    assert first.findtext(f"{CAP}msgType") == "Alert"
    assert first.findtext(f"{CAP}sender") == SENDER
    assert first.findtext(f"{CAP}status") == "Actual"
    assert first.findtext(f"{CAP}scope") == "Public"
    infos = first.findall(f"{CAP}info")
    assert [i.findtext(f"{CAP}language") for i in infos] == ["en", "id"]
    assert [i.findtext(f"{CAP}severity") for i in infos] == ["Severe", "Severe"]
    assert infos[0].findtext(f"{CAP}headline") == "Flood warning in Sungai Barat: severe"
    assert infos[1].findtext(f"{CAP}headline") == "Peringatan banjir di Sungai Barat: tingkat tinggi"
    assert [i.findtext(f"{CAP}category") for i in infos] == ["Met", "Met"]
    polygon = infos[0].findtext(f"{CAP}area/{CAP}polygon") or ""
    assert len(polygon.split()) >= 4
    assert polygon.split()[0] == polygon.split()[-1]
    first_id, first_sent = first.findtext(f"{CAP}identifier"), first.findtext(f"{CAP}sent")

    # The river keeps rising: the stage goes up, an Update referencing the first message.
    assert _flood(city, 3.4, "critical", t0_ms + 600_000) == ticket_id
    update = _cap(fresh, ticket_id)
    assert update.findtext(f"{CAP}msgType") == "Update"
    assert update.findtext(f"{CAP}identifier") != first_id
    assert update.findtext(f"{CAP}sender") == SENDER
    assert update.findtext(f"{CAP}references") == f"{SENDER},{first_id},{first_sent}"
    assert [i.findtext(f"{CAP}severity") for i in update.findall(f"{CAP}info")] == ["Extreme", "Extreme"]
    # Same stage again: nothing new to say.
    _flood(city, 3.3, "critical", t0_ms + 900_000)
    assert _cap(fresh, ticket_id).findtext(f"{CAP}identifier") == update.findtext(f"{CAP}identifier")

    # The water recedes and the city resolves it: a Cancel referencing both earlier messages, still in the feed.
    crew = key(city, "tickets:write")
    assert fresh.post(f"/api/v1/tickets/{ticket_id}/resolve", headers=crew, json={}).status_code == 200
    cancel = _cap(fresh, ticket_id)
    assert cancel.findtext(f"{CAP}msgType") == "Cancel"
    references = (cancel.findtext(f"{CAP}references") or "").split()
    assert [r.split(",")[:2] for r in references] == [[SENDER, first_id], [SENDER, update.findtext(f"{CAP}identifier")]]
    assert [i.findtext(f"{CAP}responseType") for i in cancel.findall(f"{CAP}info")] == ["AllClear", "AllClear"]
    ended = _atom(fresh.get("/public/v1/alerts.atom").content).findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}category").get("term") for e in ended] == ["Cancel"]  # type: ignore[union-attr]


def test_unhealthy_air_is_a_public_warning_too_and_unknown_ids_are_404(city, fresh):
    city.devices(("air-1", "kota-lama", "air"))
    ticket_id = sensor_ticket(city, Reading("air-1", "pm25", 90.0, int(time.time() * 1000)), "kota-lama").ticket_id
    alert = _cap(fresh, ticket_id)
    infos = alert.findall(f"{CAP}info")
    assert [i.findtext(f"{CAP}event") for i in infos] == ["Unhealthy air", "Udara tidak sehat"]
    assert [i.findtext(f"{CAP}category") for i in infos] == ["Env", "Env"]
    assert fresh.get("/public/v1/alerts/999.cap").status_code == 404
    assert fresh.get("/public/v1/alerts/abc.cap").status_code == 422


def test_without_a_configured_sender_cap_messages_carry_the_placeholder(city, client):
    city.devices(("air-1", "kota-lama", "air"))
    ticket_id = sensor_ticket(city, Reading("air-1", "pm25", 90.0, int(time.time() * 1000)), "kota-lama").ticket_id
    assert _cap(client, ticket_id).findtext(f"{CAP}sender") == "citysense@city.invalid"


@pytest.mark.parametrize(
    "sender", ["city warnings", "bpbd,kota", "<bpbd>", "bpbd&kota", "", "bpbd\tkota", "bpbd\u0000"]
)
def test_a_sender_cap_forbids_is_refused_when_the_settings_are_built(sender):
    with pytest.raises(ValueError, match=r"CITYSENSE_CAP_SENDER .* is not a CAP 1\.2 sender"):
        ApiSettings(cap_sender=sender)


def test_the_api_does_not_start_with_a_sender_cap_forbids(tmp_path):
    """`citysense api` exits 1 naming the setting and what CAP allows, before it listens."""
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith("CITYSENSE_")}
    env |= {"CITYSENSE_CAP_SENDER": "BPBD Kota, warnings", "CITYSENSE_DATA_DIR": str(tmp_path)}
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "launcher.cli", "api", "--port", str(port)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert "CITYSENSE_CAP_SENDER 'BPBD Kota, warnings' is not a CAP 1.2 sender" in result.stderr
    assert "without spaces, commas, '<' or '&'" in result.stderr
    assert "citysense API on" not in result.stdout

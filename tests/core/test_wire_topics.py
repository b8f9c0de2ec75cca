"""Topics and the ticket-event payload come from the wire contract."""

from __future__ import annotations

import orjson
import pytest

from citysense import wire

TICKET = {
    "id": 7,
    "service_code": "flooding",
    "title": "River level high",
    "district": "riverside",
    "severity": "high",
    "status": "open",
    "dedupe_key": "flooding:riverside",
    "devices": ["river-gauge-7"],
    "opened_at": "2026-01-01T00:00:00+00:00",
    "updated_at": "2026-01-01T00:00:00+00:00",
    "resolved_at": None,
}


def test_a_ticket_event_reads_back_as_it_was_written():
    message = wire.parse_ticket_event(wire.ticket_event_payload("opened", TICKET))
    assert message.event is wire.TicketEventKind.OPENED
    assert message.ticket_id == 7
    assert message.ticket == TICKET


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"{", "not JSON"),
        (b"[]", "not a citysense ticket event"),
        (b'{"event": "opened", "ticket": {"id": 1}}', "lacks"),
        (orjson.dumps({"event": "exploded", "ticket": TICKET}), "unknown ticket event"),
    ],
)
def test_anything_else_on_the_tickets_topic_is_refused_with_a_reason(payload, why):
    with pytest.raises(ValueError, match=why):
        wire.parse_ticket_event(payload)


def test_a_ticket_summary_missing_a_key_is_never_published():
    with pytest.raises(ValueError, match="severity"):
        wire.ticket_event_payload("opened", {k: v for k, v in TICKET.items() if k != "severity"})


def test_device_topic_patterns_match_the_topics_devices_use():
    for leaf, topic in (
        ("readings", wire.readings_topic),
        ("status", wire.status_topic),
        ("config", wire.config_topic),
    ):
        assert wire.device_topic_pattern(leaf).replace("%u", "gauge-1") == topic("gauge-1")
    with pytest.raises(ValueError, match="unknown device topic"):
        wire.device_topic_pattern("secrets")

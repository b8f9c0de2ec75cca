"""The ticket policy on both relational backends: one ticket per incident, resolved when quiet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from analytics.rules import default_rules, evaluate
from analytics.tickets import TicketChange, TicketPolicy
from citysense.db import Ticket, TicketStatus, connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.settings import AnalyticsSettings
from citysense.wire import Reading

T0 = 1_790_000_000_000  # ms


@pytest.fixture
def city(tickets_url):
    sessions = connect(tickets_url)
    register_devices(
        sessions,
        [
            DeviceInfo("river-1", "riverside", "water"),
            DeviceInfo("river-2", "riverside", "water"),
            DeviceInfo("hill-1", "hillside", "water"),
            DeviceInfo("air-1", "riverside", "air"),
        ],
    )
    changes: list[TicketChange] = []
    policy = TicketPolicy(sessions, quiet_period_s=600, on_change=changes.append)
    rules = default_rules(AnalyticsSettings(water_level_flood_m=2.5))
    return sessions, policy, rules, changes


def feed(policy, rules, readings):
    for reading in readings:
        breach = evaluate(rules, reading)
        if breach is not None:
            policy.observe(breach)


def tickets(sessions):
    with sessions() as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def test_many_breaching_readings_from_many_gauges_make_one_ticket(city):
    sessions, policy, rules, changes = city
    readings = [
        Reading(device, "water_level", 2.6 + i * 0.01, T0 + i * 5000)
        for i in range(40)
        for device in ("river-1", "river-2")
    ]
    feed(policy, rules, readings)

    (ticket,) = tickets(sessions)
    assert ticket.status == TicketStatus.OPEN
    assert ticket.service_code == "flood"
    assert ticket.district == "riverside"
    assert sorted(ticket.devices) == ["river-1", "river-2"]
    assert ticket.peak_value == pytest.approx(2.6 + 39 * 0.01)
    assert ticket.opened_at == datetime.fromtimestamp(T0 / 1000, UTC)
    # Opened once, updated once when the second gauge confirmed: no event per reading.
    assert [c.event for c in changes] == ["opened", "updated"]


def test_readings_below_threshold_open_nothing(city):
    sessions, policy, rules, changes = city
    feed(policy, rules, [Reading("river-1", "water_level", 2.49, T0 + i) for i in range(10)])
    feed(policy, rules, [Reading("air-1", "pm25", 55.4, T0)])
    assert tickets(sessions) == []
    assert changes == []


def test_each_district_and_service_is_its_own_incident(city):
    sessions, policy, rules, _ = city
    feed(
        policy,
        rules,
        [
            Reading("river-1", "water_level", 3.0, T0),
            Reading("hill-1", "water_level", 3.0, T0),
            Reading("air-1", "pm25", 80.0, T0),
        ],
    )
    found = {(t.service_code, t.district) for t in tickets(sessions)}
    assert found == {("flood", "riverside"), ("flood", "hillside"), ("air_quality", "riverside")}


def test_severity_rises_with_the_water_and_the_timeline_says_so(city):
    sessions, policy, rules, _ = city
    feed(
        policy,
        rules,
        [Reading("river-1", "water_level", 2.6, T0), Reading("river-1", "water_level", 3.6, T0 + 1)],
    )
    (ticket,) = tickets(sessions)
    assert ticket.severity == "critical"
    with sessions() as session:
        events = session.get(Ticket, ticket.id).events
        assert [e.kind for e in events] == ["opened", "updated"]
        assert "high to critical" in events[1].message


def test_quiet_ticket_resolves_and_a_new_flood_opens_a_new_ticket(city):
    sessions, policy, rules, _ = city
    feed(policy, rules, [Reading("river-1", "water_level", 3.0, T0)])
    opened_at = datetime.fromtimestamp(T0 / 1000, UTC)

    assert policy.resolve_quiet(opened_at + timedelta(seconds=599)) == []
    resolved = policy.resolve_quiet(opened_at + timedelta(seconds=601))
    assert [c.event for c in resolved] == ["resolved"]
    (ticket,) = tickets(sessions)
    assert ticket.status == TicketStatus.RESOLVED
    assert ticket.resolved_at == opened_at + timedelta(seconds=601)

    feed(policy, rules, [Reading("river-1", "water_level", 3.1, T0 + 3_600_000)])
    assert [t.status for t in tickets(sessions)] == [TicketStatus.RESOLVED, TicketStatus.OPEN]


def test_unregistered_device_is_ticketed_under_unknown(city):
    sessions, policy, rules, _ = city
    feed(policy, rules, [Reading("stray-9", "water_level", 3.0, T0)])
    (ticket,) = tickets(sessions)
    assert ticket.district == "unknown"


def test_database_refuses_a_second_open_ticket_for_one_incident(city):
    sessions, policy, rules, _ = city
    feed(policy, rules, [Reading("river-1", "water_level", 3.0, T0)])
    (ticket,) = tickets(sessions)
    duplicate = Ticket(
        dedupe_key=ticket.dedupe_key,
        service_code="flood",
        title="again",
        district="riverside",
        severity="high",
        quantity="water_level",
        threshold=2.5,
        peak_value=3.0,
    )
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(duplicate)

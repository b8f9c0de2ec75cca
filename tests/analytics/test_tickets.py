"""The ticket policy on both relational backends: one ticket per incident, forecasts, quiet, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from analytics.tickets import TicketChange, TicketPolicy
from citysense.db import Ticket, TicketStatus, connect
from citysense.db.models import AuditEntry
from citysense.maintenance import plan_window
from citysense.wire import Reading
from tests.analytics.support import engine, finding

T0 = 1_790_000_000_000  # ms
MIN = 60_000


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@pytest.fixture
def city(tickets_url):
    sessions = connect(tickets_url)
    changes: list[TicketChange] = []
    policy = TicketPolicy(sessions, quiet_period_s=600, on_change=changes.append)
    return sessions, policy, changes


def feed(policy, eng, readings):
    for reading in readings:
        for f in eng.process(reading):
            policy.observe(f)


def tickets(sessions):
    with sessions() as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def events(sessions, ticket_id):
    with sessions() as session:
        return [(e.kind, e.message, e.data) for e in session.get(Ticket, ticket_id).events]


def test_many_breaching_readings_from_many_gauges_make_one_ticket(city):
    sessions, policy, changes = city
    eng = engine()
    readings = [
        Reading(device, "water_level", 2.6 + i * 0.01, T0 + i * 5000)
        for i in range(40)
        for device in ("river-1", "river-2")
    ]
    feed(policy, eng, readings)

    (ticket,) = tickets(sessions)
    assert ticket.status == TicketStatus.OPEN
    assert ticket.service_code == "flood"
    assert ticket.district == "riverside"
    assert ticket.dedupe_key == "flood:riverside"
    assert sorted(ticket.devices) == ["river-1", "river-2"]
    # Two readings in a row over the level open it (hysteresis against one odd reading).
    assert ticket.opened_at == at(T0 + 5000)
    # Opened once, updated once when the second gauge confirmed: no event per reading.
    assert [c.event for c in changes] == ["opened", "updated"]
    first = events(sessions, ticket.id)[0]
    assert first[2]["detector"] == "rule:flood"
    assert first[2]["evidence"]["window"][-1][1] == pytest.approx(2.61)
    assert "detector_version" in first[2]["evidence"]


def test_readings_below_threshold_and_single_odd_readings_open_nothing(city):
    sessions, policy, changes = city
    eng = engine()
    feed(policy, eng, [Reading("river-1", "water_level", 2.49, T0 + i * MIN) for i in range(10)])
    feed(policy, eng, [Reading("river-1", "water_level", 2.7, T0 + 10 * MIN)])  # one reading over: not yet
    feed(policy, eng, [Reading("river-1", "water_level", 2.4, T0 + 11 * MIN)])
    feed(policy, eng, [Reading("air-1", "pm25", 55.4, T0 + i * MIN) for i in range(5)])
    assert tickets(sessions) == []
    assert changes == []


def test_each_district_and_service_is_its_own_incident(city):
    sessions, policy, _ = city
    eng = engine()
    readings = [
        r
        for i in range(3)
        for r in (
            Reading("river-1", "water_level", 3.0, T0 + i * MIN),
            Reading("hill-1", "water_level", 3.0, T0 + i * MIN),
            Reading("air-1", "pm25", 80.0, T0 + i * MIN),
        )
    ]
    feed(policy, eng, readings)
    found = {(t.service_code, t.district) for t in tickets(sessions)}
    assert found == {("flood", "riverside"), ("flood", "hillside"), ("air_quality", "riverside")}


def test_device_incidents_are_one_ticket_per_device(city):
    sessions, policy, _ = city
    eng = engine()
    feed(policy, eng, [Reading(b, "bin_fill", 99.0, T0 + i * 15 * MIN) for i in range(3) for b in ("bin-1", "bin-2")])
    keys = sorted(t.dedupe_key for t in tickets(sessions))
    assert keys == ["waste:riverside:bin-1", "waste:riverside:bin-2"]


def test_severity_rises_with_the_water_and_the_timeline_says_so(city):
    sessions, policy, _ = city
    policy.observe(finding(value=2.6, time_ms=T0))
    policy.observe(finding(value=3.6, time_ms=T0 + 1, severity="critical"))
    (ticket,) = tickets(sessions)
    assert ticket.severity == "critical"
    kinds = events(sessions, ticket.id)
    assert [k for k, _, _ in kinds] == ["opened", "updated"]
    assert "high to critical" in kinds[1][1]


def test_forecast_opens_before_the_threshold_and_is_upgraded_when_it_is_crossed(city):
    sessions, policy, changes = city
    policy.observe(finding(value=2.2, time_ms=T0, kind="forecast", severity="medium", detector="forecast:trend"))
    (ticket,) = tickets(sessions)
    assert ticket.severity == "medium"
    assert events(sessions, ticket.id)[0][0] == "forecast"

    policy.observe(finding(value=2.6, time_ms=T0 + 20 * MIN))
    (ticket,) = tickets(sessions)
    assert ticket.severity == "high"
    kinds = [k for k, _, _ in events(sessions, ticket.id)]
    assert kinds == ["forecast", "upgraded"]
    assert "forecast came true" in events(sessions, ticket.id)[1][1]
    assert [c.event for c in changes] == ["opened", "upgraded"]


def test_forecast_that_does_not_come_true_resolves_and_says_so(city):
    sessions, policy, _ = city
    policy.observe(finding(value=2.2, time_ms=T0, kind="forecast", severity="medium", detector="forecast:trend"))
    policy.resolve_quiet(at(T0 + 11 * MIN))
    (ticket,) = tickets(sessions)
    assert ticket.status == TicketStatus.RESOLVED
    assert "did not come true" in events(sessions, ticket.id)[-1][1]


def test_quiet_ticket_resolves_and_a_new_flood_opens_a_new_ticket(city):
    sessions, policy, _ = city
    policy.observe(finding(time_ms=T0))
    assert policy.resolve_quiet(at(T0) + timedelta(seconds=599)) == []
    resolved = policy.resolve_quiet(at(T0) + timedelta(seconds=601))
    assert [c.event for c in resolved] == ["resolved"]
    (ticket,) = tickets(sessions)
    assert ticket.status == TicketStatus.RESOLVED
    assert ticket.resolved_at == at(T0) + timedelta(seconds=601)

    policy.observe(finding(value=3.1, time_ms=T0 + 3_600_000))
    assert [t.status for t in tickets(sessions)] == [TicketStatus.RESOLVED, TicketStatus.OPEN]


def test_a_slow_reporter_is_not_quiet_between_two_readings(city):
    sessions, policy, _ = city
    eng = engine()
    # A bin reports every 15 minutes, longer than the 10-minute quiet period.
    feed(policy, eng, [Reading("bin-1", "bin_fill", 99.0, T0 + i * 15 * MIN) for i in range(12)])
    policy.resolve_quiet(at(T0 + 11 * 15 * MIN + 14 * MIN))
    (ticket,) = tickets(sessions)
    assert ticket.status == TicketStatus.OPEN


def test_operator_taken_tickets_are_not_auto_resolved(city):
    sessions, policy, _ = city
    policy.observe(finding(time_ms=T0))
    policy.observe(finding("hill-1", time_ms=T0))
    with sessions.begin() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.district == "riverside")).one()
        ticket.status = TicketStatus.ACKNOWLEDGED
    resolved = policy.resolve_quiet(at(T0 + 3_600_000))
    assert [c.summary["district"] for c in resolved] == ["hillside"]
    statuses = {t.district: t.status for t in tickets(sessions)}
    assert statuses == {"riverside": TicketStatus.ACKNOWLEDGED, "hillside": TicketStatus.RESOLVED}


def test_maintenance_window_suppresses_tickets_for_what_it_covers(city):
    sessions, policy, _ = city
    # Operators plan windows ahead (citysense.maintenance refuses one that has already ended).
    start = int((datetime.now(UTC) + timedelta(days=1)).timestamp() * 1000)
    plan_window(sessions, starts_at=at(start), ends_at=at(start + 3_600_000), district="riverside", reason="dredging")
    policy.refresh_maintenance(at(start))
    assert policy.observe(finding(time_ms=start + MIN)) is None
    assert policy.observe(finding("hill-1", time_ms=start + MIN)) is not None
    assert policy.observe(finding(time_ms=start + 3_600_000)) is not None  # the window has ended
    assert policy.suppressed == 1
    assert {t.district for t in tickets(sessions)} == {"hillside", "riverside"}


def test_maintenance_window_must_end_after_it_starts(city):
    sessions, _, _ = city
    start = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(ValueError, match="end after it starts"):
        plan_window(sessions, starts_at=start, ends_at=start)


def test_every_change_is_in_the_audit_log_as_analytics(city):
    sessions, policy, _ = city
    policy.observe(finding(time_ms=T0))
    policy.observe(finding("river-2", time_ms=T0 + MIN))
    policy.resolve_quiet(at(T0 + 3_600_000))
    with sessions() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [(e.actor, e.action) for e in entries] == [
        ("analytics", "ticket.opened"),
        ("analytics", "ticket.updated"),
        ("analytics", "ticket.resolved"),
    ]


def test_unregistered_device_is_ticketed_under_its_district_from_the_finding(city):
    sessions, policy, _ = city
    policy.observe(finding("stray-9", time_ms=T0))
    (ticket,) = tickets(sessions)
    assert ticket.district == "riverside"


def test_database_refuses_a_second_open_ticket_for_one_incident(city):
    sessions, policy, _ = city
    policy.observe(finding(time_ms=T0))
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


def test_policy_after_a_restart_finds_the_open_ticket_and_keeps_adding_to_it(city):
    sessions, policy, _ = city
    policy.observe(finding(time_ms=T0))
    restarted = TicketPolicy(sessions, quiet_period_s=600)
    change = restarted.observe(finding("river-2", time_ms=T0 + MIN))
    assert change is not None
    assert change.event == "updated"
    (ticket,) = tickets(sessions)
    assert sorted(ticket.devices) == ["river-1", "river-2"]

"""SQLAlchemy models of the relational database."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text, text, true
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Base",
    "ConsoleSession",
    "Device",
    "MaintenanceWindow",
    "Open311Submission",
    "Ticket",
    "TicketEvent",
    "TicketStatus",
    "User",
    "Webhook",
    "WebhookDelivery",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite forgets the zone; this puts it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class TicketStatus(StrEnum):
    OPEN = "open"
    # Operators' steps between open and resolved (the operator API's state machine).
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


class Device(Base):
    """A registered sensor node; its district is how readings become a district's status."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    district: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the device's broker login is withdrawn (`citysense devices revoke`); history is kept.
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # From the node's latest retained status message (migration 0010; ingest.fleet_status keeps them).
    agent_version: Mapped[str | None] = mapped_column(String(32), default=None)
    status_state: Mapped[str | None] = mapped_column(String(16), default=None)
    status_at: Mapped[datetime | None] = mapped_column(default=None)
    queue_depth: Mapped[int | None] = mapped_column(Integer, default=None)
    battery_pct: Mapped[float | None] = mapped_column(Float, default=None)


class Ticket(Base):
    """A proactive service ticket: one per incident, found by its dedupe key while open."""

    __tablename__ = "tickets"
    __table_args__ = (
        # At most one unresolved ticket per incident, even if two writers race.
        Index(
            "uq_tickets_open_dedupe_key",
            "dedupe_key",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
        # The console's queue (migration 0010): newest first within a status.
        Index("ix_tickets_status_opened_at", "status", "opened_at"),
        Index("ix_tickets_opened_at", "opened_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), index=True)
    service_code: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.OPEN, index=True)
    quantity: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[float] = mapped_column(Float)
    peak_value: Mapped[float] = mapped_column(Float)
    devices: Mapped[list[str]] = mapped_column(default=list)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_breach_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    # Added by migration 0003 (operator workflow and Open311 reports).
    source: Mapped[str] = mapped_column(String(16), default="sensor", server_default="sensor")
    assignee: Mapped[str | None] = mapped_column(String(120), default=None)
    expected_completion_at: Mapped[datetime | None] = mapped_column(default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    address: Mapped[str | None] = mapped_column(String(250), default=None)
    # Added by migration 0007: an anomaly ticket reaches residents only once an operator confirms it.
    public: Mapped[bool] = mapped_column(default=True, server_default=true())

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )


class TicketEvent(Base):
    """One step of a ticket's timeline, shown to residents as its progress."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class ApiKey(Base):
    """A scoped operator credential. Only a SHA-256 of the secret is kept; `prefix` finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    scopes: Mapped[list[str]] = mapped_column(default=list)
    # None: every agency's tickets; otherwise only tickets of this agency.
    agency: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEntry(Base):
    """Who changed what and when: every write through the operator API or the key CLI."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(48))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Webhook(Base):
    """A subscriber to ticket events. The secret signs deliveries (HMAC), so it is kept, not hashed."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(128))
    events: Mapped[list[str]] = mapped_column(default=list)
    agency: Mapped[str | None] = mapped_column(String(32), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The last ticket event already turned into deliveries for this subscriber.
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    # Per-subscriber backoff: failed attempts in a row, and no attempt of any delivery before retry_at.
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retry_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookDelivery(Base):
    """One ticket event on its way to one subscriber, retried with backoff until delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class MaintenanceWindow(Base):
    """A planned-work window (migration 0004): analytics opens no tickets for what it covers."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    district: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    device_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    service_code: Mapped[str | None] = mapped_column(String(32), default=None)
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column(index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(160), default="operator")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """An operator account for the console (migration 0010). Only an argon2 hash of the password is kept."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # None: every agency's tickets; otherwise only tickets of this agency (as agency keys).
    agency: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    # Login throttling: failures in a row, and the time before which no password is even checked.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)


class ConsoleSession(Base):
    """A signed-in console session: the cookie carries a random token, the row its SHA-256 and CSRF token.

    Signed in either as a user or with an API key; a disabled user or revoked key ends the session.
    """

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None, index=True)
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AnalyticsPosition(Base):
    """How far analytics has processed a device's readings, findings committed: the newest reading
    time. A process that takes the device over replays the store from here (docs/scaling.md)."""

    __tablename__ = "analytics_positions"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Open311Submission(Base):
    """One accepted resident report: who sent it (for the per-address throttle) and what it became.

    `fingerprint` is the normalised service, place and text, so a near-identical report of an
    open ticket is merged into it instead of opening another.
    """

    __tablename__ = "open311_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    client: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(64), index=True)
    service_code: Mapped[str] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    address_id: Mapped[str | None] = mapped_column(String(120), default=None)
    merged: Mapped[bool] = mapped_column(default=False)


class FalseAlarm(Base):
    """An operator's mark that an anomaly ticket was normal: analytics teaches that series with it.

    `deviation` is the largest |observed - expected| the ticket's evidence recorded: the same
    deviation later is normal for the series, one clearly bigger still alarms.
    """

    __tablename__ = "false_alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[str] = mapped_column(String(32))
    deviation: Mapped[float] = mapped_column(Float)
    marked_by: Mapped[str] = mapped_column(String(160))
    marked_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text, default=None)

"""The relational database: devices, tickets and their timelines (SQLite or PostgreSQL).

The schema is owned by Alembic migrations; `connect()` brings a database up to date before use.
"""

from citysense.db.engine import connect, migrate
from citysense.db.models import Base, Device, Ticket, TicketEvent, TicketStatus

__all__ = ["Base", "Device", "Ticket", "TicketEvent", "TicketStatus", "connect", "migrate"]

"""Photos sent with residents' reports: cleaned of metadata, kept in the tickets database, public once approved.

Stored in the tickets database (migration 0009) rather than on a disk, so every API replica can
serve them. A photo is decoded and re-encoded with Pillow: only pixels survive, so EXIF (camera,
time, GPS position), XMP and PNG text chunks are gone; the orientation is applied first.
"""

from __future__ import annotations

import io
from datetime import datetime

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from citysense.db.models import Base, utcnow

__all__ = [
    "MAX_PHOTO_BYTES",
    "PhotoRefusedError",
    "ReportPhoto",
    "attach_photo",
    "clean_photo",
    "public_photo_of",
    "public_photo_urls",
]

MAX_PHOTO_BYTES = 5 * 1024 * 1024
# The report form's whole body: the photo and the form fields around it.
REPORT_MAX_BODY_BYTES = MAX_PHOTO_BYTES + 256 * 1024
MAX_PIXELS = 40_000_000  # a 5 MB file that decodes to more is a decompression bomb
_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}


class ReportPhoto(Base):
    """One photo of a resident's report (migration 0009)."""

    __tablename__ = "report_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    approved: Mapped[bool] = mapped_column(Boolean, default=False)
    approved_by: Mapped[str | None] = mapped_column(String(160), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PhotoRefusedError(ValueError):
    """The upload is not a JPEG or PNG photo we can take; the message says why (shown to the resident)."""


def clean_photo(raw: bytes) -> tuple[bytes, str]:
    """(re-encoded bytes without any metadata, content type) or PhotoRefusedError."""
    if len(raw) > MAX_PHOTO_BYTES:
        raise PhotoRefusedError(f"the photo is {len(raw) / 1e6:.1f} MB; at most 5 MB")
    try:
        with Image.open(io.BytesIO(raw)) as image:
            kind = image.format or ""
            if kind not in _FORMATS:
                raise PhotoRefusedError(f"the photo must be JPEG or PNG, not {kind or 'an unknown format'}")
            if image.width * image.height > MAX_PIXELS:
                raise PhotoRefusedError("the photo has too many pixels")
            upright = ImageOps.exif_transpose(image)
            pixels = Image.frombytes(upright.mode, upright.size, upright.tobytes())  # no info, no metadata
            if kind == "JPEG" and pixels.mode not in ("RGB", "L"):
                pixels = pixels.convert("RGB")
            out = io.BytesIO()
            if kind == "JPEG":
                pixels.save(out, "JPEG", quality=85, optimize=True)
            else:
                pixels.save(out, "PNG", optimize=True)
    except PhotoRefusedError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PhotoRefusedError("the file is not a readable JPEG or PNG photo") from exc
    return out.getvalue(), _FORMATS[kind]


def attach_photo(sessions: sessionmaker[Session], ticket_id: int, data: bytes, content_type: str) -> int:
    """Store a cleaned photo for a ticket, not yet public; returns its id."""
    with sessions.begin() as session:
        photo = ReportPhoto(ticket_id=ticket_id, content_type=content_type, data=data, approved=False)
        session.add(photo)
        session.flush()
        return photo.id


def public_photo_of(sessions: sessionmaker[Session], ticket_id: int) -> tuple[str | None, bool]:
    """(URL of the ticket's approved photo or None, whether a photo waits for approval)."""
    with sessions() as session:
        rows = session.execute(
            select(ReportPhoto.id, ReportPhoto.approved)
            .where(ReportPhoto.ticket_id == ticket_id)
            .order_by(ReportPhoto.id)
        ).all()
    approved = [photo_id for photo_id, ok in rows if ok]
    return (f"/public/v1/media/{approved[0]}" if approved else None), any(not ok for _, ok in rows)


def public_photo_urls(sessions: sessionmaker[Session], ticket_ids: list[int]) -> dict[int, str]:
    """{ticket id: URL of its first approved photo}, for Open311's `media_url`."""
    if not ticket_ids:
        return {}
    with sessions() as session:
        rows = session.execute(
            select(ReportPhoto.ticket_id, ReportPhoto.id)
            .where(ReportPhoto.ticket_id.in_(ticket_ids), ReportPhoto.approved.is_(True))
            .order_by(ReportPhoto.id.desc())
        ).all()
    return {ticket_id: f"/public/v1/media/{photo_id}" for ticket_id, photo_id in rows}

"""Report photos: public once an operator approved them; operators see and approve them first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response
from pydantic import BaseModel

from api.deps import OperatorDep, SessionsDep, require
from api.media import ReportPhoto
from citysense.keys import Principal, audit

router = APIRouter(tags=["media"])

PhotoId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class PhotoApproved(BaseModel):
    id: int
    ticket_id: int
    approved: bool
    media_url: str


def _photo(body: bytes, content_type: str, cache: str) -> Response:
    # nosniff: a photo is only ever shown as the type we re-encoded it to.
    return Response(
        body, media_type=content_type, headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    )


@router.get("/public/v1/media/{photo_id}", responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}, 404: {}})
def public_photo(photo_id: PhotoId, sessions: SessionsDep) -> Response:
    """A report's photo (the Open311 `media_url`), once an operator approved it."""
    with sessions() as session:
        photo = session.get(ReportPhoto, photo_id)
        if photo is None or not photo.approved:
            raise HTTPException(404, detail=f"no public photo {photo_id}")
        return _photo(photo.data, photo.content_type, "public, max-age=86400")


@router.get("/api/v1/media/{photo_id}", dependencies=[OperatorDep], responses={404: {}})
def operator_photo(
    photo_id: PhotoId, sessions: SessionsDep, _: Annotated[Principal, require("tickets:read")]
) -> Response:
    """A report's photo before approval, for the operator deciding whether to publish it."""
    with sessions() as session:
        photo = session.get(ReportPhoto, photo_id)
        if photo is None:
            raise HTTPException(404, detail=f"no photo {photo_id}")
        return _photo(photo.data, photo.content_type, "private, no-store")


@router.post("/api/v1/media/{photo_id}/approve", dependencies=[OperatorDep], responses={404: {}})
def approve_photo(
    request: Request,
    photo_id: PhotoId,
    sessions: SessionsDep,
    principal: Annotated[Principal, require("tickets:write")],
) -> PhotoApproved:
    """Publish a report's photo: from now on it is the ticket's Open311 `media_url` and shown on its page."""
    with sessions.begin() as session:
        photo = session.get(ReportPhoto, photo_id)
        if photo is None:
            raise HTTPException(404, detail=f"no photo {photo_id}")
        photo.approved = True
        photo.approved_by = principal.name
        audit(session, principal.name, "photo.approve", "ticket", str(photo.ticket_id), {"photo_id": photo_id})
        approved = PhotoApproved(
            id=photo.id, ticket_id=photo.ticket_id, approved=True, media_url=f"/public/v1/media/{photo.id}"
        )
    request.app.state.public_cache.invalidate()  # the ticket's page shows the photo from now on
    return approved

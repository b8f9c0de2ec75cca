"""`/report`: residents report a problem with a plain HTML form (map picking when JavaScript runs).

The form posts as the built-in `web` client into the same Open311 creation code as
`POST /open311/v2/requests.json`, so validation and throttling are the API's own.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import CityDep, SessionsDep, SettingsDep
from api.geo import City
from api.i18n import choose_language
from api.media import MAX_PHOTO_BYTES, PhotoRefusedError, attach_photo, clean_photo
from api.open311_reports import ReportRefusedError, Submitted, submit_report
from api.routes.page import Language, common, templates

router = APIRouter(tags=["page"])


def _form_page(
    language: str,
    city: City,
    *,
    status: int = 200,
    error: str | None = None,
    sent: Submitted | None = None,
    values: dict[str, str] | None = None,
    photo_stored: bool = False,
) -> HTMLResponse:
    width, height, paths = city.svg_paths()
    lon0, lat1, kx, scale, pad = city.svg_frame()
    names = {d.slug: d.name for d in city.districts}
    shapes = [
        {
            "slug": slug,
            "name": names[slug],
            "path": path,
            "label": label,
            "category": "unknown",
            "css": "none",
            "open": 0,
            "href": "",
        }
        for slug, (path, label) in paths.items()
    ]
    html = templates.get_template("report.html").render(
        **common(language, city),
        shapes=shapes,
        map_size=(width, height),
        frame={"lon0": lon0, "lat1": lat1, "kx": kx, "scale": scale, "pad": pad},
        error=error,
        sent=sent,
        values=values or {},
        photo_stored=photo_stored,
    )
    return HTMLResponse(html, status_code=status, headers={"Content-Language": language, "Cache-Control": "no-store"})


@router.get("/report", response_class=HTMLResponse, include_in_schema=False)
def report_form(
    city: CityDep, lang: Language = None, accept_language: Annotated[str | None, Header(max_length=500)] = None
) -> HTMLResponse:
    return _form_page(choose_language(lang, accept_language), city)


async def _photo_bytes(photo: UploadFile | None) -> bytes | None:
    if photo is None or not photo.filename:
        return None
    data = await photo.read(MAX_PHOTO_BYTES + 1)
    return data or None


@router.post("/report", response_class=HTMLResponse, include_in_schema=False)
async def report_submit(
    request: Request,
    sessions: SessionsDep,
    settings: SettingsDep,
    city: CityDep,
    service_code: Annotated[str | None, Form(max_length=64)] = None,
    lat: Annotated[str | None, Form(max_length=32)] = None,
    long: Annotated[str | None, Form(max_length=32)] = None,
    address_string: Annotated[str | None, Form(max_length=250)] = None,
    description: Annotated[str | None, Form(max_length=4000)] = None,
    email: Annotated[str | None, Form(max_length=250)] = None,
    first_name: Annotated[str | None, Form(max_length=120)] = None,
    last_name: Annotated[str | None, Form(max_length=120)] = None,
    phone: Annotated[str | None, Form(max_length=64)] = None,
    lang: Annotated[str | None, Form(max_length=8)] = None,
    photo: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Validate the photo first (nothing is opened for a refused upload), then the shared Open311 creation."""
    language = choose_language(lang, request.headers.get("accept-language"))
    values: dict[str, Any] = {
        "service_code": service_code or "",
        "lat": lat or "",
        "long": long or "",
        "address_string": address_string or "",
        "description": description or "",
        "email": email or "",
        "first_name": first_name or "",
        "last_name": last_name or "",
        "phone": phone or "",
    }
    cleaned: tuple[bytes, str] | None = None
    raw = await _photo_bytes(photo)
    try:
        if raw is not None:
            cleaned = await run_in_threadpool(clean_photo, raw)
        submitted = await run_in_threadpool(
            lambda: submit_report(
                sessions,
                settings,
                city,
                client="web",
                address=request.client.host if request.client else "",
                service_code=service_code,
                lat=lat or None,
                long=long or None,
                address_string=address_string or None,
                description=description or None,
                contact={
                    "email": email or "",
                    "first_name": first_name or "",
                    "last_name": last_name or "",
                    "phone": phone or "",
                },
            )
        )
    except PhotoRefusedError as refused:
        return _form_page(language, city, status=400, error=str(refused), values=values)
    except ReportRefusedError as refused:
        return _form_page(language, city, status=refused.code, error=refused.description, values=values)
    if cleaned is not None:
        await run_in_threadpool(attach_photo, sessions, submitted.ticket_id, *cleaned)
    request.app.state.public_cache.invalidate()  # the new ticket shows on the status page and in the feeds
    return _form_page(language, city, status=201, sent=submitted, photo_stored=cleaned is not None)

"""The residents' status page: server-rendered HTML with an inline SVG map, refreshing itself.

No JavaScript and nothing from another host: it works on any phone browser, and on a slow
connection it is one small request every refresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.categories import RANK
from api.deps import CityDep, SessionsDep, SettingsDep, StoreDep
from api.i18n import LANGUAGES, choose_language, text
from api.queries import city_status, list_tickets
from api.schemas import DistrictStatus
from api.services import SERVICES

router = APIRouter(tags=["page"])

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

REFRESH_S = 30
# The three things residents asked about, and where each comes from.
PANELS = (("air", "pm25"), ("water", "water_level"), ("noise", "noise"))


def _worst(status: DistrictStatus | None) -> str:
    """A district's colour: the worst category among its air, water and noise."""
    if status is None:
        return "unknown"
    found = [q.category for q in status.quantities.values() if q.category is not None]
    return max(found, key=lambda c: RANK.get(c, 0)) if found else "unknown"


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def status_page(
    request: Request,
    store: StoreDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    city: CityDep,
    lang: Annotated[Literal["en", "id"] | None, Query()] = None,
    accept_language: Annotated[str | None, Header(max_length=500)] = None,
) -> HTMLResponse:
    language = choose_language(lang, accept_language)
    status = city_status(store, sessions, settings=settings)
    tickets, _ = list_tickets(sessions, limit=50, public_only=True)
    by_district = {d.district: d for d in status.districts}
    names = {d.slug: d.name for d in city.districts}
    width, height, paths = city.svg_paths()
    shapes = [
        {"slug": slug, "name": names[slug], "path": path, "label": label, "category": _worst(by_district.get(slug))}
        for slug, (path, label) in paths.items()
    ]
    open_by_district = {d.district: d.open_tickets for d in status.districts}
    html = _templates.get_template("status.html").render(
        t=text(language),
        lang=language,
        other_lang=next(x for x in LANGUAGES if x != language),
        status=status,
        names=names,
        panels=PANELS,
        shapes=shapes,
        open_by_district=open_by_district,
        map_size=(width, height),
        worst=_worst,
        tickets=tickets,
        services=SERVICES,
        refresh_s=REFRESH_S,
    )
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": f"public, max-age={min(REFRESH_S, int(settings.public_cache_s))}",
            "Vary": "Accept-Language",
            "Content-Language": language,
        },
    )

"""The residents' pages: city status, one ticket, one district's week. Server-rendered HTML with inline SVG.

Everything works without JavaScript and nothing comes from another host, so the pages work on any
phone browser; one small script (`/static/live.js`) refreshes a page in place while it is live.
Pages go through the public cache like the JSON API, so ticket events refresh them too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from api.caching import PublicCache
from api.charts import Series, line_chart, sparkline
from api.deps import CityDep, SessionsDep, SettingsDep, StoreDep
from api.geo import City
from api.i18n import LANGUAGES, choose_language, display_unit, text
from api.media import public_photo_of
from api.queries import city_status, list_tickets
from api.schemas import DistrictStatus, TicketOperator
from api.services import SERVICES
from api.trends import category_bands, district_trends, rank_css, ticket_evidence
from citysense.wire import QUANTITIES

router = APIRouter(tags=["page"])

templates = Environment(
    loader=FileSystemLoader(FilePath(__file__).resolve().parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

REFRESH_S = 30  # the status page
TICKET_REFRESH_S = 2  # an open ticket's page: a change shows within the cache invalidation plus this
# The three things residents asked about, and where each comes from.
PANELS = (("air", "pm25"), ("water", "water_level"), ("noise", "noise"))
Language = Annotated[Literal["en", "id"] | None, Query()]
AcceptLanguage = Annotated[str | None, Header(max_length=500)]


def _worst(status: DistrictStatus | None) -> str:
    """A district's colour: the worst category among its air, water and noise."""
    if status is None:
        return "unknown"
    found = [q.category for q in status.quantities.values() if q.category is not None]
    return max(found, key=lambda c: int(rank_css(c)[1:])) if found else "unknown"


def _shapes(
    city: City, *, categories: Mapping[str, str], open_counts: Mapping[str, int], href: Callable[[str], str]
) -> tuple[tuple[int, int], list[dict[str, Any]]]:
    names = {d.slug: d.name for d in city.districts}
    width, height, paths = city.svg_paths()
    shapes = [
        {
            "slug": slug,
            "name": names[slug],
            "path": path,
            "label": label,
            "category": categories.get(slug, "unknown"),
            "css": rank_css(categories.get(slug)),
            "open": open_counts.get(slug, 0),
            "href": href(slug),
        }
        for slug, (path, label) in paths.items()
    ]
    return (width, height), shapes


def common(language: str, city: City) -> dict[str, Any]:
    """What every page template needs: texts, languages, district names, services, unit formatting."""
    return {
        "t": text(language),
        "lang": language,
        "other_lang": next(x for x in LANGUAGES if x != language),
        "names": {d.slug: d.name for d in city.districts},
        "services": SERVICES,
        "unit": display_unit,
        "css": rank_css,
    }


async def cached_page(request: Request, key: tuple[Any, ...], language: str, render: Callable[[], bytes]) -> Response:
    """A page through the public cache (ETag, 304), marked with its language; 404 when `render` gives nothing."""
    cache: PublicCache = request.app.state.public_cache
    response = await cache.respond(request, ("page", *key, language), render, "text/html; charset=utf-8")
    if response.status_code == 200 and not response.body:
        return HTMLResponse(f"<!doctype html><title>404</title><p>Not found: {request.url.path}</p>", status_code=404)
    response.headers["Vary"] = "Accept-Encoding, Accept-Language"
    response.headers["Content-Language"] = language
    return response


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def status_page(
    request: Request,
    store: StoreDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    city: CityDep,
    lang: Language = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    language = choose_language(lang, accept_language)

    def render() -> bytes:
        status = city_status(
            store,
            sessions,
            flood_level_m=settings.flood_level_m,
            air_index=settings.air_index,
            noise_limit_db=settings.noise_limit_db,
        )
        tickets, _ = list_tickets(sessions, limit=50, public_only=True)
        by_district = {d.district: d for d in status.districts}
        trends = district_trends(
            store,
            sessions,
            [name for _, name in PANELS],
            end=status.generated_at,
            span=timedelta(hours=24),
            bucket_s=3600,
        )
        size, shapes = _shapes(
            city,
            categories={slug: _worst(d) for slug, d in by_district.items()},
            open_counts={d.district: d.open_tickets for d in status.districts},
            href=lambda slug: f"#d-{slug}",
        )
        texts = text(language)

        def spark(district: str, quantity: str, label: str) -> Markup:
            unit = display_unit(QUANTITIES[quantity].unit)
            return sparkline(
                trends.get(district, {}).get(quantity, []), unit=unit, label=f"{label}, {texts['trend_24h']}"
            )

        return (
            templates.get_template("status.html")
            .render(
                **common(language, city),
                status=status,
                panels=PANELS,
                shapes=shapes,
                map_size=size,
                worst=_worst,
                tickets=tickets,
                spark=spark,
                refresh_s=REFRESH_S,
            )
            .encode()
        )

    return await cached_page(request, ("status",), language, render)


def _what(ticket: TicketOperator, language: str) -> str:
    if ticket.source == "resident":
        return ticket.description or ticket.title
    service = SERVICES.get(ticket.service_code)
    name = (service.name_id if language == "id" else service.name) if service else ticket.title
    if not ticket.quantity:
        return name
    unit = display_unit(QUANTITIES[ticket.quantity].unit) if ticket.quantity in QUANTITIES else ""
    peak = "puncak" if language == "id" else "peak"
    limit = text(language)["limit"]
    return f"{name}: {peak} {ticket.peak_value:g} {unit}, {limit} {ticket.threshold:g} {unit}"


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse, include_in_schema=False)
async def ticket_page(
    request: Request,
    ticket_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    store: StoreDep,
    sessions: SessionsDep,
    city: CityDep,
    lang: Language = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    """One ticket: what, where, who, every public step, expected completion, the readings behind it."""
    language = choose_language(lang, accept_language)

    def render() -> bytes:
        found, _ = list_tickets(sessions, ids=[ticket_id], public_only=True, limit=1)
        if not found:
            return b""
        ticket = found[0]
        texts = text(language)
        evidence = ticket_evidence(store, ticket, now=datetime.now(UTC))
        unit = display_unit(QUANTITIES[ticket.quantity].unit) if ticket.quantity in QUANTITIES else ""
        chart = line_chart(
            [Series(s.name, s.points) for s in evidence],
            unit=unit,
            label=texts["evidence"],
            limit=ticket.threshold if evidence else None,
            limit_label=texts["limit"],
        )
        size, shapes = _shapes(
            city,
            categories={},
            open_counts={},
            href=lambda slug: f"/districts/{slug}?lang={language}",
        )
        for shape in shapes:  # the ticket's district stands out; the marker (if any) says where in it
            shape["css"] = "r1" if shape["slug"] == ticket.district else "none"
        marker = city.svg_point(ticket.lon, ticket.lat) if ticket.lat is not None and ticket.lon is not None else None
        names = {d.slug: d.name for d in city.districts}
        photo_url, photo_pending = public_photo_of(sessions, ticket.id)
        return (
            templates.get_template("ticket.html")
            .render(
                **common(language, city),
                ticket=ticket,
                what=_what(ticket, language),
                chart=chart,
                shapes=shapes,
                map_size=size,
                marker=marker,
                where_label=f"{texts['map']}: {names.get(ticket.district, ticket.district)}",
                photo_url=photo_url,
                photo_pending=photo_pending,
                version=f"{ticket.updated_at.isoformat()}/{len(ticket.timeline)}",
                refresh_s=TICKET_REFRESH_S,
            )
            .encode()
        )

    return await cached_page(request, ("ticket", ticket_id), language, render)


@router.get("/districts/{district}", response_class=HTMLResponse, include_in_schema=False)
async def district_page(
    request: Request,
    district: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")],
    store: StoreDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    city: CityDep,
    lang: Language = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    """Seven days per quantity, with the scale's category bands behind the line."""
    language = choose_language(lang, accept_language)
    names = {d.slug: d.name for d in city.districts}

    def render() -> bytes:
        status = city_status(
            store,
            sessions,
            flood_level_m=settings.flood_level_m,
            air_index=settings.air_index,
            noise_limit_db=settings.noise_limit_db,
        )
        current = next((d for d in status.districts if d.district == district), None)
        if current is None and district not in names:
            return b""
        texts = text(language)
        trends = district_trends(
            store,
            sessions,
            [name for _, name in PANELS],
            end=status.generated_at,
            span=timedelta(days=7),
            bucket_s=3 * 3600,
            district=district,
        ).get(district, {})
        charts = []
        for panel, quantity in PANELS:
            points = trends.get(quantity, [])
            unit = display_unit(QUANTITIES[quantity].unit)
            bands = category_bands(
                quantity,
                flood_level_m=settings.flood_level_m,
                air_index=settings.air_index,
                noise_limit_db=settings.noise_limit_db,
                upto=max((v for _, v in points), default=0.0),
                labels=texts,
            )
            label = f"{texts[panel]}, {texts['trend_7d'].lower()}"
            charts.append(
                {
                    "panel": panel,
                    "quantity": quantity,
                    "now": current.quantities.get(quantity) if current else None,
                    "chart": line_chart([Series(texts[panel], points)], unit=unit, label=label, bands=bands)
                    if points
                    else None,
                    "bands": [b for b in bands if b.low < max((v for _, v in points), default=0.0) * 1.1 or b.low == 0],
                    "unit": unit,
                }
            )
        size, shapes = _shapes(
            city,
            categories={district: _worst(current)},
            open_counts={},
            href=lambda slug: f"/districts/{slug}?lang={language}",
        )
        return (
            templates.get_template("district.html")
            .render(
                **common(language, city),
                district=district,
                name=names.get(district, district.replace("-", " ").title()),
                current=current,
                charts=charts,
                shapes=shapes,
                map_size=size,
                generated_at=status.generated_at,
            )
            .encode()
        )

    return await cached_page(request, ("district", district), language, render)

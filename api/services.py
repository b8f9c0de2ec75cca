"""The city's service catalogue: what residents can report and which agency answers each code.

Sensor tickets use the same codes (`flood`, `air_quality` from analytics), so a ticket's agency
follows from its service code wherever it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_AGENCY", "SERVICES", "Service", "agency_of", "codes_of_agency"]


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    name: str
    name_id: str
    description: str
    agency: str
    group: str
    keywords: tuple[str, ...]


SERVICES: dict[str, Service] = {
    s.code: s
    for s in (
        Service(
            "flood",
            "Flood risk",
            "Risiko banjir",
            "River or drain water above the flood level.",
            "water",
            "water",
            ("flood", "banjir", "river"),
        ),
        Service(
            "drainage",
            "Blocked drain",
            "Saluran tersumbat",
            "A drain or gutter is blocked or overflowing.",
            "water",
            "water",
            ("drain", "gutter", "selokan"),
        ),
        Service(
            "air_quality",
            "Unhealthy air",
            "Udara tidak sehat",
            "Smoke, dust or fine particles (PM2.5) above the healthy limit.",
            "environment",
            "environment",
            ("air", "smoke", "pm25", "udara"),
        ),
        Service(
            "noise",
            "Noise",
            "Kebisingan",
            "Noise above the limits for the area or time of day.",
            "environment",
            "environment",
            ("noise", "bising"),
        ),
        Service(
            "waste",
            "Waste not collected",
            "Sampah tidak diangkut",
            "A full bin or dumped rubbish.",
            "sanitation",
            "sanitation",
            ("bin", "rubbish", "sampah"),
        ),
        Service(
            "road_damage",
            "Road damage",
            "Jalan rusak",
            "A pothole or broken pavement.",
            "public_works",
            "public works",
            ("pothole", "road", "jalan"),
        ),
        Service(
            "streetlight",
            "Street light out",
            "Lampu jalan mati",
            "A street light that is off or flickering.",
            "public_works",
            "public works",
            ("light", "lampu"),
        ),
        Service(
            "device_fault",
            "Sensor fault",
            "Sensor rusak",
            "A city sensor that is silent, stuck or implausible.",
            "public_works",
            "public works",
            ("sensor", "device"),
        ),
    )
}

DEFAULT_AGENCY = "public_works"


def agency_of(service_code: str) -> str:
    """The agency responsible for a service code; unknown codes go to public works."""
    service = SERVICES.get(service_code)
    return service.agency if service is not None else DEFAULT_AGENCY


def codes_of_agency(agency: str) -> list[str]:
    return [s.code for s in SERVICES.values() if s.agency == agency]

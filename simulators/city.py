"""The simulated city: districts and the devices in each."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_DISTRICTS", "District", "SimDevice", "build_fleet"]


@dataclass(frozen=True, slots=True)
class District:
    slug: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class SimDevice:
    device_id: str
    district: str
    kind: str
    quantities: tuple[str, ...]
    lat: float
    lon: float


DEFAULT_DISTRICTS: tuple[District, ...] = (
    District("kota-lama", "Kota Lama", -6.9667, 110.4167),
    District("pelabuhan", "Pelabuhan", -6.9500, 110.4250),
    District("sungai-barat", "Sungai Barat", -6.9800, 110.3900),
    District("industri-timur", "Industri Timur", -6.9700, 110.4600),
    District("taman-sari", "Taman Sari", -6.9950, 110.4200),
    District("bukit-hijau", "Bukit Hijau", -7.0200, 110.4000),
)

KINDS: dict[str, tuple[str, ...]] = {
    "air": ("pm25", "pm10", "temperature", "humidity"),
    "water": ("water_level",),
}


def build_fleet(
    districts: tuple[District, ...] = DEFAULT_DISTRICTS,
    *,
    air_per_district: int = 5,
    water_per_district: int = 4,
) -> list[SimDevice]:
    """A fleet laid out on a small grid around each district's centre (deterministic)."""
    fleet: list[SimDevice] = []
    for district in districts:
        for kind, count in (("air", air_per_district), ("water", water_per_district)):
            for i in range(count):
                fleet.append(
                    SimDevice(
                        device_id=f"{district.slug}-{kind}-{i + 1:02d}",
                        district=district.slug,
                        kind=kind,
                        quantities=KINDS[kind],
                        lat=round(district.lat + 0.002 * (i % 3 - 1), 6),
                        lon=round(district.lon + 0.002 * (i // 3 - 1), 6),
                    )
                )
    return fleet

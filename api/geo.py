"""The city's districts from its GeoJSON: names, shapes, which district a point is in, an SVG map.

The map is drawn on the server (inline SVG, equirectangular with the latitude's cosine), so the
status page needs no tile server, no JavaScript and nothing from another host.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

__all__ = ["City", "DistrictShape", "load_city"]

DEFAULT_CITY = Path(__file__).resolve().parent / "data" / "city.geojson"

Ring = list[tuple[float, float]]  # (lon, lat)


class CityFileError(ValueError):
    """The city GeoJSON cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class DistrictShape:
    slug: str
    name: str
    polygons: tuple[tuple[Ring, ...], ...]  # each polygon: outer ring, then holes

    @property
    def centre(self) -> tuple[float, float]:
        """(lon, lat): the mean of the outer rings' vertices, good enough for a label."""
        points = [p for polygon in self.polygons for p in polygon[0][:-1]]
        return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))

    def contains(self, lon: float, lat: float) -> bool:
        for polygon in self.polygons:
            if _in_ring(polygon[0], lon, lat) and not any(_in_ring(hole, lon, lat) for hole in polygon[1:]):
                return True
        return False


def _in_ring(ring: Ring, x: float, y: float) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in pairwise(ring):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _polygons(geometry: dict[str, Any]) -> tuple[tuple[Ring, ...], ...]:
    kind = geometry.get("type")
    coords: Any = geometry.get("coordinates") or []
    raw: list[Any]
    if kind == "Polygon":
        raw = [coords]
    elif kind == "MultiPolygon":
        raw = list(coords)
    else:
        raise CityFileError(f"district geometry must be a Polygon or MultiPolygon, not {kind!r}")
    return tuple(tuple([(float(p[0]), float(p[1])) for p in ring] for ring in polygon) for polygon in raw)


@dataclass(frozen=True, slots=True)
class City:
    districts: tuple[DistrictShape, ...]
    geojson: dict[str, Any]

    def by_slug(self) -> dict[str, DistrictShape]:
        return {d.slug: d for d in self.districts}

    def locate(self, lon: float, lat: float) -> str | None:
        """The slug of the district containing the point, or None outside the city."""
        for district in self.districts:
            if district.contains(lon, lat):
                return district.slug
        return None

    def svg_frame(self, width: int = 640) -> tuple[float, float, float, float, float]:
        """(lon0, lat1, kx, scale, pad) of the map `svg_paths` draws: x = pad + (lon - lon0) * kx * scale,
        y = pad + (lat1 - lat) * scale. The report page's script inverts it to turn a tap into a position."""
        points = [p for d in self.districts for polygon in d.polygons for p in polygon[0]]
        if not points:
            return 0.0, 0.0, 1.0, 1.0, 8.0
        lon0, lon1 = min(p[0] for p in points), max(p[0] for p in points)
        lat0, lat1 = min(p[1] for p in points), max(p[1] for p in points)
        kx = math.cos(math.radians((lat0 + lat1) / 2))
        return lon0, lat1, kx, (width - 16) / max((lon1 - lon0) * kx, 1e-9), 8.0

    def svg_point(self, lon: float, lat: float, width: int = 640) -> tuple[float, float]:
        """Where (lon, lat) falls on the map `svg_paths(width)` draws."""
        lon0, lat1, kx, scale, pad = self.svg_frame(width)
        return (round(pad + (lon - lon0) * kx * scale, 1), round(pad + (lat1 - lat) * scale, 1))

    def svg_paths(self, width: int = 640) -> tuple[int, int, dict[str, tuple[str, tuple[float, float]]]]:
        """(width, height, {slug: (path data, label position)}) for an inline SVG map."""
        points = [p for d in self.districts for polygon in d.polygons for p in polygon[0]]
        if not points:
            return width, width // 2, {}
        lon0, lon1 = min(p[0] for p in points), max(p[0] for p in points)
        lat0, lat1 = min(p[1] for p in points), max(p[1] for p in points)
        kx = math.cos(math.radians((lat0 + lat1) / 2))
        span_x = max((lon1 - lon0) * kx, 1e-9)
        span_y = max(lat1 - lat0, 1e-9)
        pad = 8
        scale = (width - 2 * pad) / span_x
        height = round(span_y * scale + 2 * pad)

        def xy(p: tuple[float, float]) -> tuple[float, float]:
            return (round(pad + (p[0] - lon0) * kx * scale, 1), round(pad + (lat1 - p[1]) * scale, 1))

        paths: dict[str, tuple[str, tuple[float, float]]] = {}
        for district in self.districts:
            parts = []
            for polygon in district.polygons:
                for ring in polygon:
                    coords = " ".join(f"{x},{y}" for x, y in map(xy, ring))
                    parts.append(f"M{coords}Z")
            paths[district.slug] = (" ".join(parts), xy(district.centre))
        return width, height, paths


def load_city(path: Path | None) -> City:
    """Districts from a GeoJSON FeatureCollection whose features carry `slug` (and `name`) properties."""
    source = path or DEFAULT_CITY
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CityFileError(f"cannot read the city GeoJSON {source}: {exc}") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise CityFileError(f"{source} is not a GeoJSON FeatureCollection")
    districts = []
    for i, feature in enumerate(data.get("features") or []):
        props = feature.get("properties") or {}
        slug = props.get("slug")
        if not isinstance(slug, str) or not slug:
            raise CityFileError(f"{source}: feature {i} has no 'slug' property")
        districts.append(DistrictShape(slug, str(props.get("name") or slug), _polygons(feature.get("geometry") or {})))
    return City(tuple(districts), data)

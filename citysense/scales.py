"""The city's scales, in one place: air quality (US EPA AQI and Indonesia's ISPU), flood stages, noise.

Analytics' ticket rules, the public API and status page, and the Grafana dashboards all read
these tables; nothing else holds a breakpoint, so a ticket, a category and a colour cannot
disagree about the same value.

Air quality indices (both piecewise linear between breakpoints, both from 24-hour averages):

* **US AQI**, EPA Technical Assistance Document EPA-454/B-24-002 (May 2024), table 6, with the
  PM2.5 breakpoints of the 2024 NAAQS revision. The average is *truncated* first (PM2.5 to
  0.1 ug/m3, PM10 to 1 ug/m3), then put through
  ``I = (I_hi - I_lo) / (C_hi - C_lo) * (C - C_lo) + I_lo`` and rounded to the nearest integer.
  Above the top breakpoint the last segment is extended, as the document allows.
* **ISPU**, Peraturan Menteri LHK P.14/MENLHK/SETJEN/KUM.1/7/2020, lampiran: the table gives
  the concentration at ISPU 50, 100, 200, 300 and 500 and the formula
  ``I = (Ia - Ib) / (Xa - Xb) * (Xx - Xb) + Ib`` between the two rows around the concentration
  (Ia, Xa upper; Ib, Xb lower), so segments touch. The index is rounded to an integer and its
  category read from the regulation's ranges (1-50, 51-100, 101-199, 200-299, 300+).

Arithmetic is decimal, so a concentration written as 249.9 is 249.9 and an index that is
exactly x.5 rounds up, the same on every machine.

Flood stages are fractions of one setting (the flood level); noise bands start at one setting
(the noise limit). Which air index the city reports and tickets on is one setting too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Final, Literal

__all__ = [
    "AIR_INDICES",
    "AQI",
    "ISPU",
    "Band",
    "BandScale",
    "IndexName",
    "IndexScale",
    "Level",
    "flood_scale",
    "index_scale",
    "noise_scale",
    "nowcast",
]

IndexName = Literal["us_aqi", "ispu"]
Severity = Literal["low", "medium", "high", "critical"]


@dataclass(frozen=True, slots=True)
class Level:
    """One category of a scale: what residents read, what operators see, and whether a ticket opens.

    `key` is a stable English key (the page translates it); `severity` is the ticket severity the
    category means, None when no ticket opens.
    """

    key: str
    colour: str
    label_en: str
    label_id: str
    advice_en: str
    advice_id: str
    severity: Severity | None = None


# ----------------------------------------------------------------------------- air quality indices

_D = Decimal


@dataclass(frozen=True, slots=True)
class _Segment:
    c_lo: Decimal
    c_hi: Decimal
    i_lo: int
    i_hi: int


@dataclass(frozen=True, slots=True)
class IndexScale:
    """An air quality index: breakpoints per pollutant, categories by index, how averages are cut."""

    name: IndexName
    title: str
    segments: dict[str, tuple[_Segment, ...]]
    # (lowest index of the category, level), ascending
    levels: tuple[tuple[int, Level], ...]
    # decimals the average is truncated to before the formula (EPA); None: used as measured
    truncate: dict[str, int | None]
    averaging: str = "24h"

    def prepared(self, quantity: str, concentration: float) -> Decimal:
        """The concentration the formula takes: non-negative, truncated where the standard says so."""
        c = max(_D(repr(float(concentration))), _D(0))
        places = self.truncate.get(quantity)
        if places is not None:
            c = c.quantize(_D(1).scaleb(-places), rounding=ROUND_DOWN)
        return c

    def exact_index(self, quantity: str, concentration: float) -> Decimal:
        """The index before rounding."""
        c = self.prepared(quantity, concentration)
        table = self.segments[quantity]
        seg = next((s for s in table if c <= s.c_hi), table[-1])
        # Between two EPA rows (35.45 truncated is 35.4, so this only happens above the table or
        # for ISPU's touching rows) the upper row's formula applies.
        c = max(c, seg.c_lo)
        return _D(seg.i_hi - seg.i_lo) / (seg.c_hi - seg.c_lo) * (c - seg.c_lo) + seg.i_lo

    def index(self, quantity: str, concentration: float) -> int:
        """The index, rounded to the nearest integer (halves up)."""
        return int(self.exact_index(quantity, concentration).to_integral_value(rounding=ROUND_HALF_UP))

    def level_of_index(self, value: int) -> Level:
        found = self.levels[0][1]
        for lowest, level in self.levels:
            if value >= lowest:
                found = level
        return found

    def level(self, quantity: str, concentration: float) -> Level:
        return self.level_of_index(self.index(quantity, concentration))

    def edges(self, quantity: str) -> tuple[tuple[float | None, Level], ...]:
        """The lowest concentration of each category, for colour bands (None for the first).

        Solved from the formula, so a concentration at or above an edge is in that category
        exactly when `level` says so.
        """
        out: list[tuple[float | None, Level]] = [(None, self.levels[0][1])]
        for lowest, level in self.levels[1:]:
            out.append((float(self._lowest_concentration(quantity, lowest)), level))
        return tuple(out)

    def _lowest_concentration(self, quantity: str, index: int) -> Decimal:
        target = _D(index) - _D("0.5")  # rounds up to `index`
        for seg in self.segments[quantity]:
            if seg.i_hi >= target:
                if seg.i_lo >= target:
                    return seg.c_lo
                c = seg.c_lo + (target - seg.i_lo) * (seg.c_hi - seg.c_lo) / _D(seg.i_hi - seg.i_lo)
                places = self.truncate.get(quantity)
                if places is not None:  # truncated inputs: the next representable step
                    step = _D(1).scaleb(-places)
                    q = c.quantize(step, rounding=ROUND_DOWN)
                    c = q if q == c else q + step
                return c.normalize()
        last = self.segments[quantity][-1]
        return last.c_hi

    def ticket_threshold(self, quantity: str) -> float:
        """The lowest concentration whose category opens a ticket."""
        lowest = next(i for i, level in self.levels if level.severity is not None)
        return float(self._lowest_concentration(quantity, lowest))


def _table(*rows: tuple[str, str, int, int]) -> tuple[_Segment, ...]:
    return tuple(_Segment(_D(c_lo), _D(c_hi), i_lo, i_hi) for c_lo, c_hi, i_lo, i_hi in rows)


_AQI_LEVELS: Final = (
    (
        0,
        Level(
            "good",
            "#00e400",
            "Good",
            "Baik",
            "Air quality is satisfactory; enjoy being outside.",
            "Kualitas udara memuaskan; nikmati kegiatan di luar ruangan.",
        ),
    ),
    (
        51,
        Level(
            "moderate",
            "#ffff00",
            "Moderate",
            "Sedang",
            "Unusually sensitive people should consider less prolonged or heavy exertion outdoors.",
            "Orang yang sangat sensitif sebaiknya mengurangi aktivitas berat atau lama di luar ruangan.",
        ),
    ),
    (
        101,
        Level(
            "unhealthy_for_sensitive_groups",
            "#ff7e00",
            "Unhealthy for sensitive groups",
            "Tidak sehat bagi kelompok sensitif",
            "Children, older adults and people with heart or lung disease should reduce heavy exertion outdoors.",
            "Anak-anak, lansia, dan penderita penyakit jantung atau paru sebaiknya mengurangi aktivitas berat di luar.",
        ),
    ),
    (
        151,
        Level(
            "unhealthy",
            "#ff0000",
            "Unhealthy",
            "Tidak sehat",
            "Everyone should reduce heavy exertion outdoors; sensitive groups should avoid it.",
            "Semua orang sebaiknya mengurangi aktivitas berat di luar; kelompok sensitif menghindarinya.",
            "medium",
        ),
    ),
    (
        201,
        Level(
            "very_unhealthy",
            "#8f3f97",
            "Very unhealthy",
            "Sangat tidak sehat",
            "Everyone should avoid heavy exertion outdoors; sensitive groups should stay indoors.",
            "Semua orang sebaiknya menghindari aktivitas berat di luar; kelompok sensitif tetap di dalam ruangan.",
            "high",
        ),
    ),
    (
        301,
        Level(
            "hazardous",
            "#7e0023",
            "Hazardous",
            "Berbahaya",
            "Everyone should stay indoors and keep activity low.",
            "Semua orang sebaiknya tetap di dalam ruangan dan mengurangi aktivitas.",
            "critical",
        ),
    ),
)

AQI: Final = IndexScale(
    name="us_aqi",
    title="US AQI",
    segments={
        "pm25": _table(
            ("0.0", "9.0", 0, 50),
            ("9.1", "35.4", 51, 100),
            ("35.5", "55.4", 101, 150),
            ("55.5", "125.4", 151, 200),
            ("125.5", "225.4", 201, 300),
            ("225.5", "325.4", 301, 500),
        ),
        "pm10": _table(
            ("0", "54", 0, 50),
            ("55", "154", 51, 100),
            ("155", "254", 101, 150),
            ("255", "354", 151, 200),
            ("355", "424", 201, 300),
            ("425", "604", 301, 500),
        ),
    },
    levels=_AQI_LEVELS,
    truncate={"pm25": 1, "pm10": 0},
)

_ISPU_LEVELS: Final = (
    (
        0,
        Level(
            "good",
            "#2e9e44",
            "Good",
            "Baik",
            "Air quality is good; enjoy being outside.",
            "Kualitas udara baik; sangat baik melakukan kegiatan di luar.",
        ),
    ),
    (
        51,
        Level(
            "moderate",
            "#1f5fbf",
            "Moderate",
            "Sedang",
            "Sensitive groups should reduce heavy or long activity outdoors.",
            "Kelompok sensitif sebaiknya mengurangi aktivitas fisik yang terlalu lama atau berat.",
        ),
    ),
    (
        101,
        Level(
            "unhealthy",
            "#f2c200",
            "Unhealthy",
            "Tidak sehat",
            "Everyone should reduce heavy exertion outdoors; sensitive groups should avoid it.",
            "Setiap orang sebaiknya mengurangi aktivitas berat di luar; kelompok sensitif menghindarinya.",
            "medium",
        ),
    ),
    (
        200,
        Level(
            "very_unhealthy",
            "#d7191c",
            "Very unhealthy",
            "Sangat tidak sehat",
            "Everyone should avoid activity outdoors; sensitive groups should stay indoors.",
            "Setiap orang sebaiknya menghindari aktivitas di luar; kelompok sensitif tetap di dalam ruangan.",
            "high",
        ),
    ),
    (
        300,
        Level(
            "hazardous",
            "#000000",
            "Hazardous",
            "Berbahaya",
            "Everyone should stay indoors and wear a mask outside.",
            "Setiap orang sebaiknya tetap di dalam ruangan dan memakai masker jika keluar.",
            "critical",
        ),
    ),
)

ISPU: Final = IndexScale(
    name="ispu",
    title="ISPU",
    segments={
        "pm25": _table(
            ("0", "15.5", 0, 50),
            ("15.5", "55.4", 50, 100),
            ("55.4", "150.4", 100, 200),
            ("150.4", "250.4", 200, 300),
            ("250.4", "500", 300, 500),
        ),
        "pm10": _table(
            ("0", "50", 0, 50),
            ("50", "150", 50, 100),
            ("150", "350", 100, 200),
            ("350", "420", 200, 300),
            ("420", "500", 300, 500),
        ),
    },
    levels=_ISPU_LEVELS,
    truncate={"pm25": None, "pm10": None},
)

AIR_INDICES: Final[dict[str, IndexScale]] = {"us_aqi": AQI, "ispu": ISPU}


def index_scale(name: str) -> IndexScale:
    return AIR_INDICES[name]


def nowcast(hourly: list[float | None], *, quantity: str = "pm25") -> float | None:
    """The EPA NowCast of the last 12 hourly averages, newest first (None for a missing hour).

    EPA's method: weight factor w = 1 - (max - min) / max, at least 0.5 for PM; NowCast =
    sum(w**i * c_i) / sum(w**i) over the hours present. Needs two of the three newest hours.
    Truncated like the 24-hour average (PM2.5 to 0.1 ug/m3, PM10 to 1 ug/m3).
    """
    hours = (list(hourly) + [None] * 12)[:12]
    if sum(1 for c in hours[:3] if c is not None) < 2:
        return None
    present = [(i, c) for i, c in enumerate(hours) if c is not None]
    values = [c for _, c in present]
    high, low = max(values), min(values)
    w = 1.0 - (high - low) / high if high > 0 else 1.0
    w = max(w, 0.5)
    value = sum(w**i * c for i, c in present) / sum(w**i for i, _ in present)
    places = AQI.truncate.get(quantity)
    if places is None:
        return value
    return float(_D(repr(value)).quantize(_D(1).scaleb(-places), rounding=ROUND_DOWN))


# ----------------------------------------------------------------------------- banded scales


@dataclass(frozen=True, slots=True)
class Band:
    """A band of a plain scale: from `lower` up (None: the base band)."""

    lower: float | None
    level: Level


@dataclass(frozen=True, slots=True)
class BandScale:
    """A scale read directly off the value (flood stage, noise)."""

    name: str
    bands: tuple[Band, ...]
    averaging: str = "latest"

    def level(self, value: float) -> Level:
        found = self.bands[0].level
        for band in self.bands[1:]:
            if band.lower is not None and value >= band.lower:
                found = band.level
        return found

    def edges(self) -> tuple[tuple[float | None, Level], ...]:
        return tuple((b.lower, b.level) for b in self.bands)

    def ticket_threshold(self) -> float:
        return next(b.lower for b in self.bands if b.level.severity is not None and b.lower is not None)


# Indonesian river alert levels (normal, waspada, siaga, awas) as fractions of the flood level.
FLOOD_FRACTIONS: Final = (0.6, 0.8, 1.0, 1.4)


def flood_scale(flood_level_m: float) -> BandScale:
    """River stages against the flood level; danger (awas) at the level is where a ticket opens."""
    alert, warning, danger, extreme = (round(f * flood_level_m, 6) for f in FLOOD_FRACTIONS)
    return BandScale(
        "flood",
        (
            Band(
                None,
                Level("normal", "green", "Normal", "Normal", "No flood expected.", "Tidak ada ancaman banjir."),
            ),
            Band(
                alert,
                Level(
                    "alert",
                    "yellow",
                    "Alert (waspada)",
                    "Waspada",
                    "Water is rising; keep an eye on updates.",
                    "Air naik; pantau informasi terbaru.",
                ),
            ),
            Band(
                warning,
                Level(
                    "warning",
                    "orange",
                    "Warning (siaga)",
                    "Siaga",
                    "Prepare to move valuables and be ready to leave.",
                    "Siapkan barang berharga dan bersiap mengungsi.",
                ),
            ),
            Band(
                danger,
                Level(
                    "danger",
                    "red",
                    "Danger (awas)",
                    "Awas",
                    "Flooding: follow the authorities' instructions.",
                    "Banjir: ikuti arahan petugas.",
                    "high",
                ),
            ),
            Band(
                extreme,
                Level(
                    "extreme",
                    "dark-red",
                    "Severe flooding",
                    "Banjir besar",
                    "Severe flooding: leave low ground now.",
                    "Banjir besar: segera tinggalkan daerah rendah.",
                    "critical",
                ),
            ),
        ),
    )


# Noise: WHO's guideline level for road traffic starts the moderate band; the limit opens a ticket
# (low), 10 % over it is medium.
NOISE_MODERATE_DB: Final = 55.0
NOISE_VERY_LOUD_RATIO: Final = 1.1


def noise_scale(noise_limit_db: float) -> BandScale:
    return BandScale(
        "noise",
        (
            Band(None, Level("quiet", "green", "Quiet", "Tenang", "", "")),
            Band(
                NOISE_MODERATE_DB,
                Level("moderate", "yellow", "Moderate", "Sedang", "", ""),
            ),
            Band(
                noise_limit_db,
                Level(
                    "loud",
                    "orange",
                    "Loud",
                    "Bising",
                    "Above the city's noise limit.",
                    "Di atas batas kebisingan kota.",
                    "low",
                ),
            ),
            Band(
                round(noise_limit_db * NOISE_VERY_LOUD_RATIO, 6),
                Level(
                    "very_loud",
                    "red",
                    "Very loud",
                    "Sangat bising",
                    "Well above the noise limit; protect your hearing.",
                    "Jauh di atas batas kebisingan; lindungi pendengaran Anda.",
                    "medium",
                ),
            ),
        ),
    )

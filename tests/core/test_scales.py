"""One set of scales: for every value, the ticket, the public category and the dashboard colour agree.

Sources checked against:
* EPA-454/B-24-002 (May 2024), table 6 (breakpoints), and AirNow's "The AQI Equation (2024)":
  averages are truncated (PM2.5 to 0.1 ug/m3, PM10 to 1 ug/m3) before the formula and the AQI is
  rounded to the nearest integer.
* EPA's "Computing the NowCast" worked example: hourly PM2.5 (newest first) 13, 16, 10, 21, 74, 64,
  53, 82, 90, 75, 80, 50 -> weight factor 1 - 80/90 < 0.5, so 0.5 -> NowCast 17.4 ug/m3.
* P.14/MENLHK/SETJEN/KUM.1/7/2020, lampiran: ISPU 50/100/200/300/500 at PM2.5 15.5/55.4/150.4/
  250.4/500 and PM10 50/150/350/420/500 ug/m3, I = (Ia - Ib) / (Xa - Xb) * (Xx - Xb) + Ib.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from analytics.rules import default_rules
from api.categories import assess
from citysense.scales import AQI, ISPU, flood_scale, index_scale, noise_scale, nowcast
from citysense.settings import AnalyticsSettings, CommonSettings
from dashboards.scales import air_bands, flood_bands, noise_bands


def _steps(stop: str, step: str) -> Iterator[float]:
    """Exact decimal steps from 0 to `stop`, as the floats a sensor would send."""
    value, end, inc = Decimal(0), Decimal(stop), Decimal(step)
    while value <= end:
        yield float(value)
        value += inc


def _colour(bands: tuple[tuple[float | None, str], ...], value: float) -> str:
    """Grafana's absolute thresholds: the last step whose value is at or below the reading."""
    found = bands[0][1]
    for edge, colour in bands[1:]:
        if edge is not None and value >= edge:
            found = colour
    return found


def _ticket(rule, value: float) -> str | None:
    return rule.severity(value, rule.threshold) if rule.over(value, rule.threshold) else None


@pytest.mark.parametrize("air_index", ["ispu", "us_aqi"])
@pytest.mark.parametrize(("quantity", "top"), [("pm25", "600"), ("pm10", "700")])
def test_every_concentration_has_one_category_one_colour_and_one_ticket_severity(air_index, quantity, top):
    scale = index_scale(air_index)
    settings = AnalyticsSettings(air_index=air_index)
    rule = default_rules(settings)["pm25"]
    bands = air_bands(quantity, air_index)
    disagreements = []
    walked = 0
    for c in _steps(top, "0.1"):
        walked += 1
        level = scale.level(quantity, c)
        public = assess(quantity, c, CommonSettings(air_index=air_index))
        assert public is not None
        seen = {
            "category": public.category == level.key,
            "colour": _colour(bands, c) == level.colour,
            # Only PM2.5 has a ticket rule; PM10 opens none.
            "ticket": (_ticket(rule, c) if quantity == "pm25" else None)
            == (level.severity if quantity == "pm25" else None),
        }
        if not all(seen.values()):
            disagreements.append((c, level.key, seen))
    assert walked > 5000
    assert disagreements == []


def test_flood_stage_colour_and_ticket_agree_at_every_centimetre_and_with_a_district_threshold():
    settings = AnalyticsSettings(flood_level_m=2.5)
    rule = default_rules(settings)["water_level"]
    for flood_level in (2.5, 3.1):
        scale, bands = flood_scale(flood_level), flood_bands(flood_level)
        wrong = []
        for metres in _steps("6", "0.001"):
            level = scale.level(metres)
            ticket = rule.severity(metres, flood_level) if rule.over(metres, flood_level) else None
            public = assess("water_level", metres, CommonSettings(flood_level_m=flood_level))
            assert public is not None
            if (public.category, _colour(bands, metres), ticket) != (level.key, level.colour, level.severity):
                wrong.append(metres)
        assert wrong == []
    assert flood_scale(2.5).level(2.5).key == "danger"
    assert flood_scale(2.5).level(2.499).key == "warning"


def test_noise_band_colour_and_ticket_agree_at_every_tenth_of_a_decibel():
    settings = AnalyticsSettings(noise_limit_db=78.0)
    rule = default_rules(settings)["noise"]
    scale, bands = noise_scale(78.0), noise_bands(78.0)
    wrong = []
    for db in _steps("140", "0.1"):
        level = scale.level(db)
        public = assess("noise", db, CommonSettings(noise_limit_db=78.0))
        assert public is not None
        if (public.category, _colour(bands, db), _ticket(rule, db)) != (level.key, level.colour, level.severity):
            wrong.append(db)
    assert wrong == []


@pytest.mark.parametrize(
    ("concentration", "aqi"),
    [
        # Truncation before the formula (AirNow, "The AQI Equation (2024)").
        (9.05, 50),
        (35.45, 100),
        (55.45, 150),
        (9.1, 51),
        (35.5, 101),
        (55.5, 151),
        # The live page showed 53 and 60 here; the EPA formula gives 54 and 61.
        (10.5, 54),
        (14.5, 61),
        # Table 6's breakpoints.
        (0.0, 0),
        (9.0, 50),
        (35.4, 100),
        (55.4, 150),
        (125.4, 200),
        (125.5, 201),
        (225.4, 300),
        (225.5, 301),
        (325.4, 500),
    ],
)
def test_epa_pm25_aqi_is_exact(concentration, aqi):
    assert AQI.index("pm25", concentration) == aqi


@pytest.mark.parametrize(("concentration", "aqi"), [(54.9, 50), (55, 51), (154.9, 100), (155, 101), (604, 500)])
def test_epa_pm10_is_truncated_to_whole_micrograms(concentration, aqi):
    assert AQI.index("pm10", concentration) == aqi


def test_epa_nowcast_worked_example():
    hours = [13, 16, 10, 21, 74, 64, 53, 82, 90, 75, 80, 50]
    assert nowcast([float(h) for h in hours]) == 17.4
    # ... which is AQI 66 on the 2024 table: (100 - 51) / (35.4 - 9.1) * (17.4 - 9.1) + 51 = 66.46.
    assert AQI.index("pm25", 17.4) == 66


def test_nowcast_needs_two_of_the_three_newest_hours():
    assert nowcast([None, None, 20.0, 20.0]) is None
    assert nowcast([20.0, None, 20.0]) == 20.0


@pytest.mark.parametrize(
    ("quantity", "concentration", "ispu", "category"),
    [
        ("pm25", 15.5, 50, "good"),
        ("pm25", 55.4, 100, "moderate"),
        ("pm25", 150.4, 200, "very_unhealthy"),
        ("pm25", 250.4, 300, "hazardous"),
        ("pm25", 500.0, 500, "hazardous"),
        # Between rows the formula uses the neighbouring rows: (100 - 50) / (55.4 - 15.5) * (35 - 15.5) + 50.
        ("pm25", 35.0, 74, "moderate"),
        ("pm25", 55.9, 101, "unhealthy"),
        ("pm25", 55.8, 100, "moderate"),
        ("pm10", 50, 50, "good"),
        ("pm10", 150, 100, "moderate"),
        ("pm10", 350, 200, "very_unhealthy"),
        ("pm10", 420, 300, "hazardous"),
        ("pm10", 100, 75, "moderate"),
    ],
)
def test_ispu_follows_the_regulation_table_and_formula(quantity, concentration, ispu, category):
    assert ISPU.index(quantity, concentration) == ispu
    assert ISPU.level(quantity, concentration).key == category


def test_the_cases_the_issue_found_now_agree():
    """55.5 ug/m3: the ticket and the page name the same category on the city's index."""
    for air_index in ("us_aqi", "ispu"):
        rule = default_rules(AnalyticsSettings(air_index=air_index))["pm25"]
        public = assess("pm25", 55.5, CommonSettings(air_index=air_index))
        assert public is not None
        opens = rule.over(55.5, rule.threshold)
        assert opens == (index_scale(air_index).level("pm25", 55.5).severity is not None)
    assert assess("pm25", 9.1, CommonSettings(air_index="us_aqi")).aqi_category == "moderate"  # type: ignore[union-attr]
    assert assess("pm25", 35.5, CommonSettings(air_index="us_aqi")).category == (  # type: ignore[union-attr]
        "unhealthy_for_sensitive_groups"
    )


def test_every_level_has_both_languages():
    for scale in (AQI, ISPU):
        for _, level in scale.levels:
            assert all((level.label_en, level.label_id, level.advice_en, level.advice_id))

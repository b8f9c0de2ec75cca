"""Water and flood: river and drain gauges against the flood level, and the rain that feeds them."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import DataTransformerConfig

from dashboards.boards.common import by_device, by_district, latest_by_device, per_district
from dashboards.datasources import INFLUX
from dashboards.panels import Board, table_panel, time_series
from dashboards.scales import flood_bands
from dashboards.variables import device_variable, district_variable, ticket_annotations

UID = "citysense-water"


def build() -> Board:
    board = (
        Board(
            UID, "Water and flood", "Gauge levels against alert levels and the flood level; rainfall.", tags=["water"]
        )
        .variables(district_variable(), device_variable("water"))
        .annotate(ticket_annotations("flood"))
    )
    board.add(
        time_series(
            "Water level by gauge",
            "The gauges chosen above. Bands: alert (60 % of the flood level), warning (80 %), flood.",
            INFLUX,
            [by_device("water_level")],
            unit="lengthm",
            bands=flood_bands(),
        )
    )
    board.add(
        per_district(
            time_series(
                "Highest water level in $district",
                "The district's highest gauge (one panel per district chosen): a flood ticket opens when it "
                "crosses the red line.",
                INFLUX,
                [by_district("water_level", "max")],
                unit="lengthm",
                bands=flood_bands(),
            )
        ),
    )
    board.add(
        per_district(
            time_series(
                "Rainfall in $district",
                "Rain measured per interval, summed over the district's gauges (one panel per district chosen); "
                "rivers follow it with a lag.",
                INFLUX,
                [by_district("rainfall", "sum")],
                unit="lengthmm",
                bars=True,
            )
        ),
    )
    board.add(
        table_panel(
            "Gauges now",
            "Each gauge's newest level in the time range, highest first.",
            INFLUX,
            [latest_by_device("water_level", "level")],
            unit="lengthm",
            bands=flood_bands(),
            sort_by="level",
            descending=True,
            transformations=[DataTransformerConfig(id_val="organize", options={"renameByName": {"Time": "at"}})],
        )
    )
    return board

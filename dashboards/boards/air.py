"""Air quality: PM2.5 and PM10 by district and by sensor, read against Indonesia's ISPU bands."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import DataTransformerConfig

from dashboards.boards.common import by_device, by_district, latest_by_device, per_district
from dashboards.datasources import INFLUX
from dashboards.panels import Board, table_panel, time_series
from dashboards.scales import ispu_bands
from dashboards.variables import device_variable, district_variable, ticket_annotations

UID = "citysense-air"


def build() -> Board:
    board = (
        Board(UID, "Air quality", "PM2.5 and PM10 against the ISPU bands; air-quality tickets marked.", tags=["air"])
        .variables(district_variable(), device_variable("air"))
        .annotate(ticket_annotations("air_quality"))
    )
    for quantity, label in (("pm25", "PM2.5"), ("pm10", "PM10")):
        board.add(
            per_district(
                time_series(
                    f"{label} in $district",
                    f"Mean {label} of the district's air sensors (one panel per district chosen). Bands: ISPU "
                    "good, moderate, unhealthy, very unhealthy, hazardous.",
                    INFLUX,
                    [by_district(quantity)],
                    unit="conμgm3",
                    bands=ispu_bands(quantity),
                )
            ),
        )
    board.add(
        time_series(
            "PM2.5 by sensor",
            "The sensors chosen above: one sensor far from its neighbours is a fault or a very local source.",
            INFLUX,
            [by_device("pm25")],
            unit="conμgm3",
            bands=ispu_bands("pm25"),
        )
    )
    board.add(
        table_panel(
            "Latest by sensor",
            "Each air sensor's newest PM2.5 and PM10 in the time range; worst first.",
            INFLUX,
            [latest_by_device("pm25", "PM2.5", ref_id="A"), latest_by_device("pm10", "PM10", ref_id="B")],
            unit="conμgm3",
            bands=ispu_bands("pm25"),
            sort_by="PM2.5",
            descending=True,
            transformations=[
                DataTransformerConfig(id_val="merge", options={}),
                DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True}}),
            ],
        )
    )
    return board

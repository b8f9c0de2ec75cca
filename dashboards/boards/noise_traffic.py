"""Noise and traffic: how loud and how busy each district is, and which sensors and counters stand out."""

from __future__ import annotations

from dashboards.boards.common import by_device, by_district, per_district
from dashboards.datasources import INFLUX
from dashboards.panels import Board, table_panel, time_series
from dashboards.queries import InfluxQL, district_filter
from dashboards.scales import noise_bands
from dashboards.variables import device_variable, district_variable, ticket_annotations

UID = "citysense-noise-traffic"


def build() -> Board:
    board = (
        Board(
            UID,
            "Noise and traffic",
            "Noise levels by district and sensor; vehicles counted.",
            tags=["noise", "traffic"],
        )
        .variables(district_variable(), device_variable("noise"))
        .annotate(ticket_annotations())
    )
    board.add(
        per_district(
            time_series(
                "Noise in $district",
                "Mean sound level of the district's noise sensors (one panel per district chosen). Bands: quiet, "
                "moderate, loud, very loud.",
                INFLUX,
                [by_district("noise")],
                unit="dB",
                bands=noise_bands(),
            )
        ),
    )
    board.add(
        time_series(
            "Noise by sensor",
            "The noise sensors chosen above.",
            INFLUX,
            [by_device("noise")],
            unit="dB",
            bands=noise_bands(),
        )
    )
    board.add(
        per_district(
            time_series(
                "Vehicles counted in $district",
                "Vehicles counted per interval by the district's counters (one panel per district chosen).",
                INFLUX,
                [by_district("traffic_count", "sum")],
                unit="short",
                bars=True,
            )
        ),
    )
    board.add(
        table_panel(
            "Busiest counters",
            "Vehicles counted by each counter in the time range.",
            INFLUX,
            [
                InfluxQL(
                    'SELECT sum("value") AS "vehicles", last("district") AS "district" FROM "readings"'
                    f' WHERE "quantity" = \'traffic_count\' AND {district_filter()} AND $timeFilter GROUP BY "device"',
                    result_format="table",
                )
            ],
            unit="short",
            sort_by="vehicles",
            descending=True,
        )
    )
    return board

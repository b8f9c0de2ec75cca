"""Noise and traffic: how loud and how busy each district is, and which sensors and counters stand out."""

from __future__ import annotations

from dashboards.boards.common import by_device, by_district
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
        time_series(
            "Noise by district",
            "Mean sound level of each district's noise sensors. Bands: quiet, moderate, loud, very loud.",
            INFLUX,
            [by_district("noise")],
            unit="dB",
            bands=noise_bands(),
        )
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
        time_series(
            "Vehicles counted by district",
            "Vehicles counted per interval by the district's counters.",
            INFLUX,
            [by_district("traffic_count", "sum")],
            unit="short",
            bars=True,
        )
    )
    board.add(
        table_panel(
            "Busiest counters",
            "Vehicles counted by each counter in the time range.",
            INFLUX,
            [
                InfluxQL(
                    'SELECT sum("value") AS "vehicles" FROM "readings" WHERE "quantity" = \'traffic_count\''
                    f' AND {district_filter()} AND $timeFilter GROUP BY "device", "district"',
                    result_format="table",
                )
            ],
            unit="short",
            sort_by="vehicles",
            descending=True,
        )
    )
    return board

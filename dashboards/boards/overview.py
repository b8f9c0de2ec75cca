"""City overview: is any district in trouble right now, and is the city's sensing working?"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import DataTransformerConfig

from dashboards.boards.common import DEVICES_REPORTING, REPORTING_WINDOW, by_district
from dashboards.datasources import INFLUX, POSTGRES
from dashboards.panels import Board, bar_gauge, stat_panel, table_panel, time_series
from dashboards.queries import InfluxQL, Sql, district_filter
from dashboards.scales import flood_bands, ispu_bands
from dashboards.variables import district_variable, ticket_annotations

UID = "citysense-overview"

_NOW = f'AND {district_filter()} AND time > now() - 15m GROUP BY "district"'


def build() -> Board:
    board = (
        Board(UID, "City overview", "Each district's state now, open tickets and devices reporting.", tags=["overview"])
        .variables(district_variable())
        .annotate(ticket_annotations())
    )
    board.add(
        stat_panel(
            "Devices reporting",
            "Devices that sent a reading in the last 30 minutes.",
            INFLUX,
            [InfluxQL(DEVICES_REPORTING)],
        ),
        width=6,
        height=4,
    )
    board.add(
        stat_panel(
            "Open tickets",
            "Tickets not yet resolved in the chosen districts.",
            POSTGRES,
            [
                Sql(
                    'SELECT count(*) AS "open tickets" FROM tickets'
                    " WHERE status <> 'resolved' AND district IN ($district)"
                )
            ],
            bands=((None, "green"), (1, "orange"), (5, "red")),
        ),
        width=6,
        height=4,
    )
    board.add(
        bar_gauge(
            "Open tickets by district",
            "Where the city has unresolved incidents.",
            POSTGRES,
            [
                Sql(
                    "SELECT district, count(*) AS \"open\" FROM tickets WHERE status <> 'resolved'"
                    " AND district IN ($district) GROUP BY district ORDER BY 2 DESC"
                )
            ],
            bands=((None, "orange"), (3, "red")),
        ),
        width=12,
        height=4,
    )
    board.add(
        table_panel(
            "Districts now",
            "Per district: mean PM2.5, highest water level and mean noise of the last 15 minutes; devices "
            "reporting in the last 30.",
            INFLUX,
            [
                InfluxQL(
                    f'SELECT mean("value") AS "PM2.5 (ug/m3)" FROM "readings" WHERE "quantity" = \'pm25\' {_NOW}',
                    ref_id="A",
                    result_format="table",
                ),
                InfluxQL(
                    'SELECT max("value") AS "water level (m)" FROM "readings"'
                    f" WHERE \"quantity\" = 'water_level' {_NOW}",
                    ref_id="B",
                    result_format="table",
                ),
                InfluxQL(
                    f'SELECT mean("value") AS "noise (dB)" FROM "readings" WHERE "quantity" = \'noise\' {_NOW}',
                    ref_id="C",
                    result_format="table",
                ),
                InfluxQL(
                    'SELECT count("last") AS "devices reporting" FROM (SELECT last("value") FROM "readings"'
                    f' WHERE time > now() - {REPORTING_WINDOW} AND {district_filter()} GROUP BY "device", "district")'
                    ' GROUP BY "district"',
                    ref_id="D",
                    result_format="table",
                ),
            ],
            transformations=[
                DataTransformerConfig(id_val="merge", options={}),
                DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True}}),
            ],
            sort_by="district",
        ),
        width=24,
        height=8,
    )
    board.add(
        time_series(
            "PM2.5 by district",
            "Mean PM2.5 of each district's air sensors, against Indonesia's ISPU bands.",
            INFLUX,
            [by_district("pm25")],
            unit="conμgm3",
            bands=ispu_bands("pm25"),
        )
    )
    board.add(
        time_series(
            "Highest water level by district",
            "The highest gauge of each district, against the flood level analytics opens tickets at.",
            INFLUX,
            [by_district("water_level", "max")],
            unit="lengthm",
            bands=flood_bands(),
        )
    )
    return board

"""City overview: is any district in trouble right now, and is the city's sensing working?"""

from __future__ import annotations

from dashboards.boards.common import DEVICES_REPORTING, by_district, per_district
from dashboards.datasources import INFLUX, POSTGRES
from dashboards.panels import Board, bar_gauge, stat_panel, time_series
from dashboards.queries import InfluxQL, Sql, district_filter
from dashboards.scales import flood_bands, ispu_bands
from dashboards.variables import district_variable, ticket_annotations

UID = "citysense-overview"


def _now(aggregate: str, quantity: str, ref_id: str) -> InfluxQL:
    """The chosen district's `aggregate` of `quantity` over the last 15 minutes."""
    return InfluxQL(
        f'SELECT {aggregate}("value") FROM "readings" WHERE "quantity" = \'{quantity}\' AND {district_filter()}'
        " AND time > now() - 15m",
        ref_id=ref_id,
    )


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
        per_district(
            stat_panel(
                "Now in $district",
                "The district now (one panel per district chosen): mean PM2.5, highest water level and mean "
                "noise of the last 15 minutes; devices reporting in the last 30.",
                INFLUX,
                [
                    _now("mean", "pm25", "A").alias("PM2.5 (ug/m3)"),
                    _now("max", "water_level", "B").alias("water level (m)"),
                    _now("mean", "noise", "C").alias("noise (dB)"),
                    InfluxQL(DEVICES_REPORTING, ref_id="D").alias("devices reporting"),
                ],
            ),
        ),
        width=24,
        height=4,
    )
    board.add(
        per_district(
            time_series(
                "PM2.5 in $district",
                "Mean PM2.5 of the district's air sensors (one panel per district chosen), against Indonesia's "
                "ISPU bands.",
                INFLUX,
                [by_district("pm25")],
                unit="conμgm3",
                bands=ispu_bands("pm25"),
            )
        ),
    )
    board.add(
        per_district(
            time_series(
                "Highest water level in $district",
                "The highest gauge of the district (one panel per district chosen), against the flood level "
                "analytics opens tickets at.",
                INFLUX,
                [by_district("water_level", "max")],
                unit="lengthm",
                bands=flood_bands(),
            )
        ),
    )
    return board

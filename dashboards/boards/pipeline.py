"""The platform itself: readings arriving in the store, devices delivering, tickets flowing.

Ingest's reject and retry counters and its lag live in the ingest process (its log and
counters), not in a store Grafana can query, so they have no panel yet.
"""

from __future__ import annotations

from dashboards.boards.common import repeat_per
from dashboards.datasources import INFLUX, POSTGRES
from dashboards.panels import Board, stat_panel, time_series
from dashboards.queries import InfluxQL, Sql
from dashboards.variables import kind_variable

UID = "citysense-platform"


def build() -> Board:
    board = Board(
        UID, "Platform", "Ingest rate into the store, devices delivering, tickets flowing.", tags=["platform"]
    ).variables(kind_variable(in_chosen_districts=False))
    board.add(
        repeat_per(
            "kind",
            time_series(
                "Readings stored per minute: $kind",
                "What ingest wrote into the time-series store from devices of this kind (one panel per kind "
                "chosen); a drop to zero is an outage upstream of the store.",
                INFLUX,
                [
                    InfluxQL(
                        'SELECT count("value") FROM "readings" WHERE "kind" =~ /^$kind$/ AND $timeFilter'
                        " GROUP BY time(1m) fill(none)"
                    ).alias("$kind")
                ],
                unit="short",
            ),
        ),
        width=16,
    )
    board.add(
        stat_panel(
            "Readings stored in the time range",
            "All readings in the store in the time range.",
            INFLUX,
            [InfluxQL('SELECT count("value") FROM "readings" WHERE $timeFilter')],
            unit="short",
        ),
        width=8,
    )
    board.add(
        time_series(
            "Devices delivering per 5 minutes",
            "How many devices had at least one reading stored in each 5 minutes.",
            INFLUX,
            [
                InfluxQL(
                    'SELECT count("last") FROM (SELECT last("value") FROM "readings" WHERE $timeFilter'
                    ' GROUP BY time(5m), "device") WHERE $timeFilter GROUP BY time(5m)'
                ).alias("devices")
            ],
            unit="short",
        )
    )
    board.add(
        time_series(
            "Tickets opened and resolved per hour",
            "The ticket flow the analytics service and operators produce.",
            POSTGRES,
            [
                Sql(
                    "SELECT $__timeGroupAlias(opened_at, '1h'), 'opened' AS metric, count(*) AS \"value\""
                    " FROM tickets WHERE $__timeFilter(opened_at) GROUP BY 1"
                    " UNION ALL"
                    " SELECT $__timeGroupAlias(resolved_at, '1h'), 'resolved' AS metric, count(*) AS \"value\""
                    " FROM tickets WHERE resolved_at IS NOT NULL AND $__timeFilter(resolved_at) GROUP BY 1"
                    " ORDER BY 1",
                    result_format="time_series",
                )
            ],
            unit="short",
            bars=True,
        )
    )
    return board

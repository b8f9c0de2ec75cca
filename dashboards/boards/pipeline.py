"""The platform itself: readings arriving in the store, devices delivering, ingest's rejects and
lag, tickets flowing.

Ingest writes its own health every few seconds to the measurement `ingest` (tags `worker` and
`metric`): `rejected.<reason>` (refused in the window, per reason) and `lag_p50_s`/`lag_max_s`
(now minus the reading time of the newest stored reading, sampled each second over the window).
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
            "Ingest rejects per minute, by reason",
            "Records or messages ingest refused and dead-lettered, per reason, all ingest workers: a burst "
            "of one reason usually points at one device's firmware or clock.",
            INFLUX,
            [
                InfluxQL(
                    'SELECT sum("value") FROM "ingest" WHERE "metric" =~ /^rejected\\./ AND $timeFilter'
                    ' GROUP BY time(1m), "metric" fill(0)'
                ).alias("$tag_metric")
            ],
            unit="short",
            bars=True,
        ),
        width=12,
    )
    board.add(
        time_series(
            "Ingest lag",
            "Now minus the reading time of the newest reading in the store, per ingest worker: the median and "
            "the largest seen each window. It grows when ingest falls behind, and also when the whole fleet "
            "goes quiet.",
            INFLUX,
            [
                InfluxQL(
                    'SELECT max("value") FROM "ingest" WHERE "metric" = \'lag_max_s\' AND $timeFilter'
                    ' GROUP BY time($__interval), "worker" fill(none)'
                ).alias("max $tag_worker"),
                InfluxQL(
                    'SELECT median("value") FROM "ingest" WHERE "metric" = \'lag_p50_s\' AND $timeFilter'
                    ' GROUP BY time($__interval), "worker" fill(none)',
                    ref_id="B",
                ).alias("p50 $tag_worker"),
            ],
            unit="s",
        ),
        width=12,
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

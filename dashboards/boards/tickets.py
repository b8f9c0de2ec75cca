"""Tickets and service levels, from the tickets database: what is open, how old, how fast it gets fixed."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from dashboards.datasources import POSTGRES
from dashboards.panels import Board, bar_gauge, stat_panel, table_panel, time_series
from dashboards.queries import Sql
from dashboards.variables import console_variable, sql_district_variable, ticket_annotations

UID = "citysense-tickets"

_IN_DISTRICTS = "district IN ($district)"
_OPEN = f"status <> 'resolved' AND {_IN_DISTRICTS}"
_RESOLVED_IN_RANGE = f"resolved_at IS NOT NULL AND $__timeFilter(resolved_at) AND {_IN_DISTRICTS}"
_RESOLVE_S = "extract(epoch FROM resolved_at - opened_at)"
# Each ticket number opens the ticket in the operators' console (`$console`, a box on the dashboard).
CONSOLE_TICKET_LINK = {"title": "Open in the console", "url": "${console}/console/tickets/${__value.raw}"}


def build() -> Board:
    board = (
        Board(UID, "Tickets and service levels", "Open tickets by type and age; time to resolve.", tags=["tickets"])
        .variables(sql_district_variable(), console_variable())
        .annotate(ticket_annotations())
    )
    board.add(
        stat_panel(
            "Open tickets",
            "Tickets not yet resolved.",
            POSTGRES,
            [Sql(f'SELECT count(*) AS "open" FROM tickets WHERE {_OPEN}')],
            bands=((None, "green"), (1, "orange"), (5, "red")),
        ),
        width=6,
        height=4,
    )
    board.add(
        stat_panel(
            "Opened in the time range",
            "Tickets opened, by sensors or by residents' reports.",
            POSTGRES,
            [Sql(f'SELECT count(*) AS "opened" FROM tickets WHERE $__timeFilter(opened_at) AND {_IN_DISTRICTS}')],
        ),
        width=6,
        height=4,
    )
    board.add(
        stat_panel(
            "Median time to resolve",
            "Of the tickets resolved in the time range.",
            POSTGRES,
            [
                Sql(
                    f'SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {_RESOLVE_S}) AS "median"'
                    f" FROM tickets WHERE {_RESOLVED_IN_RANGE}"
                )
            ],
            unit="s",
        ),
        width=6,
        height=4,
    )
    board.add(
        bar_gauge(
            "Open by type",
            "Open tickets per service (flood, air quality, residents' report types).",
            POSTGRES,
            [
                Sql(
                    'SELECT service_code AS "type", count(*) AS "open"'
                    f" FROM tickets WHERE {_OPEN} GROUP BY 1 ORDER BY 2 DESC"
                )
            ],
            bands=((None, "orange"),),
        ),
        width=6,
        height=4,
    )
    board.add(
        table_panel(
            "Open tickets by age",
            "Every open ticket, the oldest first.",
            POSTGRES,
            [
                Sql(
                    'SELECT id AS "ticket", title, district, service_code AS "type", severity, status,'
                    ' opened_at AS "opened", extract(epoch FROM now() - opened_at) AS "age"'
                    f" FROM tickets WHERE {_OPEN} ORDER BY opened_at"
                )
            ],
        )
        .override_by_name("age", [DynamicConfigValue(id_val="unit", value="s")])
        .override_by_name("ticket", [DynamicConfigValue(id_val="links", value=[CONSOLE_TICKET_LINK])]),
        width=24,
        height=8,
    )
    board.add(
        table_panel(
            "Time to resolve by type",
            "Tickets resolved in the time range: how many, the median and the 90th percentile of their duration.",
            POSTGRES,
            [
                Sql(
                    f'SELECT service_code AS "type", count(*) AS "resolved",'
                    f' percentile_cont(0.5) WITHIN GROUP (ORDER BY {_RESOLVE_S}) AS "median",'
                    f' percentile_cont(0.9) WITHIN GROUP (ORDER BY {_RESOLVE_S}) AS "90th percentile"'
                    f" FROM tickets WHERE {_RESOLVED_IN_RANGE} GROUP BY 1 ORDER BY 1"
                )
            ],
        )
        .override_by_name("median", [DynamicConfigValue(id_val="unit", value="s")])
        .override_by_name("90th percentile", [DynamicConfigValue(id_val="unit", value="s")]),
        width=12,
        height=8,
    )
    board.add(
        time_series(
            "Tickets opened per hour, by type",
            "When incidents began; a burst of one type in one hour is one event seen by many.",
            POSTGRES,
            [
                Sql(
                    "SELECT $__timeGroupAlias(opened_at, '1h'), service_code AS metric, count(*) AS \"value\""
                    f" FROM tickets WHERE $__timeFilter(opened_at) AND {_IN_DISTRICTS} GROUP BY 1, 2 ORDER BY 1",
                    result_format="time_series",
                )
            ],
            unit="short",
            bars=True,
        )
    )
    return board

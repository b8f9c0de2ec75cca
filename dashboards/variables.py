"""Template variables and annotations shared by the dashboards.

`district` and `device` are multi-value with "All", so Grafana always substitutes them as a
regex group in InfluxQL (`/^(a|b)$/`) and as a quoted list in SQL (`IN ('a','b')`): the
queries are written for exactly those two forms.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import AnnotationQuery, QueryVariable
from grafana_foundation_sdk.models.dashboard import VariableOption, VariableRefresh, VariableSort

from dashboards.datasources import INFLUX, POSTGRES
from dashboards.queries import SqlAnnotation

# Every variable starts on "All": a dashboard opened cold shows the whole city.
_ALL = VariableOption(selected=True, text="All", value="$__all")

__all__ = ["device_variable", "district_variable", "kind_variable", "sql_district_variable", "ticket_annotations"]


def district_variable() -> QueryVariable:
    """Districts that have readings (the tag ingest writes from the device registry)."""
    return (
        QueryVariable("district")
        .label("District")
        .datasource(INFLUX)
        .query('SHOW TAG VALUES FROM "readings" WITH KEY = "district"')
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(_ALL)
    )


def device_variable(kind: str) -> QueryVariable:
    """Devices of one kind in the chosen districts."""
    return (
        QueryVariable("device")
        .label("Device")
        .datasource(INFLUX)
        .query(
            'SHOW TAG VALUES FROM "readings" WITH KEY = "device"'
            f' WHERE "district" =~ /^$district$/ AND "kind" = \'{kind}\''
        )
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(_ALL)
    )


def sql_district_variable() -> QueryVariable:
    """Districts from the device registry and the tickets themselves (a resident's report may name any)."""
    return (
        QueryVariable("district")
        .label("District")
        .datasource(POSTGRES)
        .query("SELECT district FROM devices UNION SELECT district FROM tickets ORDER BY 1")
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .multi(True)
        .include_all(True)
        .current(_ALL)
    )


def ticket_annotations(*service_codes: str) -> AnnotationQuery:
    """Tickets (of these service codes; all when none) as spans from opened to resolved, or to now."""
    codes = " AND service_code IN (" + ", ".join(f"'{c}'" for c in service_codes) + ")" if service_codes else ""
    sql = (
        "SELECT extract(epoch FROM opened_at) * 1000 AS time,"
        " extract(epoch FROM coalesce(resolved_at, now())) * 1000 AS timeend,"
        " '#' || id || ' ' || title || ' (' || status || ')' AS text,"
        " service_code || ',' || severity AS tags"
        " FROM tickets"
        " WHERE opened_at <= $__timeTo() AND coalesce(resolved_at, now()) >= $__timeFrom()"
        f" AND district IN ($district){codes}"
        " ORDER BY opened_at"
    )
    return (
        AnnotationQuery().name("Tickets").datasource(POSTGRES).enable(True).icon_color("red").target(SqlAnnotation(sql))
    )


def kind_variable() -> QueryVariable:
    """Kinds of device (air, water, noise, ...), as the registry tags their readings."""
    return (
        QueryVariable("kind")
        .label("Kind")
        .datasource(INFLUX)
        .query('SHOW TAG VALUES FROM "readings" WITH KEY = "kind" WHERE "district" =~ /^$district$/')
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(_ALL)
    )

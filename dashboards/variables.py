"""Template variables and annotations shared by the dashboards.

`district` and `device` are multi-value with "All", so Grafana always substitutes them as a
regex group in InfluxQL (`/^(a|b)$/`) and as a quoted list in SQL (`IN ('a','b')`): the
queries are written for exactly those two forms.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import AnnotationQuery, QueryVariable, TextBoxVariable
from grafana_foundation_sdk.models.dashboard import VariableOption, VariableRefresh, VariableSort

from dashboards.datasources import POSTGRES
from dashboards.queries import SqlAnnotation

# Every variable starts on "All": a dashboard opened cold shows the whole city.
_ALL = VariableOption(selected=True, text="All", value="$__all")

__all__ = [
    "CONSOLE_DEFAULT",
    "console_variable",
    "device_variable",
    "district_variable",
    "kind_variable",
    "sql_district_variable",
    "ticket_annotations",
]

# Where the operators' console is; each Grafana can set its own in the variable's box.
CONSOLE_DEFAULT = "http://localhost:8000"


def console_variable() -> TextBoxVariable:
    """`$console`: the API's base URL, so ticket tables can link each ticket to its console page."""
    return (
        TextBoxVariable("console")
        .label("Console URL")
        .description("Base URL of the citysense API serving /console")
        .default_value(CONSOLE_DEFAULT)
        .current(VariableOption(selected=True, text=CONSOLE_DEFAULT, value=CONSOLE_DEFAULT))
    )


def district_variable() -> QueryVariable:
    """Districts of the device registry (PostgreSQL), which ingest also writes beside each reading.

    InfluxDB keeps district and kind as fields, not tags (they are not part of a reading's
    identity), so `SHOW TAG VALUES` cannot list them; the registry is their source anyway.
    """
    return (
        QueryVariable("district")
        .label("District")
        .datasource(POSTGRES)
        .query("SELECT DISTINCT district FROM devices ORDER BY 1")
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(_ALL)
    )


def device_variable(kind: str) -> QueryVariable:
    """Devices of one kind in the chosen districts, from the registry."""
    return (
        QueryVariable("device")
        .label("Device")
        .datasource(POSTGRES)
        .query(f"SELECT id FROM devices WHERE district IN ($district) AND kind = '{kind}' ORDER BY 1")
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


def kind_variable(*, in_chosen_districts: bool = True) -> QueryVariable:
    """Kinds of device (air, water, noise, ...) in the registry, of the chosen districts' devices."""
    where = " WHERE district IN ($district)" if in_chosen_districts else ""
    return (
        QueryVariable("kind")
        .label("Kind")
        .datasource(POSTGRES)
        .query(f"SELECT DISTINCT kind FROM devices{where} ORDER BY 1")
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(_ALL)
    )

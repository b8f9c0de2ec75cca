"""Panel queries for the two data sources the foundation SDK has no builder for.

Grafana's InfluxDB data source in InfluxQL mode takes a raw query string (`rawQuery`); its
PostgreSQL data source takes raw SQL (`rawSql`). Both are plain data queries to the SDK, so they
are small `Dataquery` variants here, usable wherever a panel or variable takes a target.

The InfluxQL is written against the layout the InfluxDB adapter writes
(`citysense/timeseries/influx.py`): measurement `readings`, tags `device` and `quantity`, float
field `value`, string fields `district` and `kind` (filterable, not groupable).
"""

from __future__ import annotations

from typing import Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import AnnotationTarget, DataSourceRef

from dashboards.datasources import INFLUX, POSTGRES

__all__ = ["InfluxQL", "Sql", "SqlAnnotationTarget", "district_filter", "quantity_filter"]

InfluxFormat = Literal["time_series", "table"]
SqlFormat = Literal["time_series", "table"]


def _ref(ref: DataSourceRef) -> dict[str, object]:
    return {"type": ref.type_val, "uid": ref.uid}


class InfluxQLQuery(cogvariants.Dataquery):
    """One raw InfluxQL target; `alias` names series by their tags (`$tag_device`) or a variable (`$district`)."""

    def __init__(self, ref_id: str, query: str, result_format: InfluxFormat, alias: str | None) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "datasource": _ref(INFLUX),
            "query": self.query,
            "rawQuery": True,
            "refId": self.ref_id,
            "resultFormat": self.result_format,
        }
        if self.alias:
            payload["alias"] = self.alias
        return payload


class InfluxQL(cogbuilder.Builder[cogvariants.Dataquery]):
    """`InfluxQL("SELECT ...").alias("$tag_device")`: a builder like the SDK's own query builders."""

    def __init__(self, query: str, *, ref_id: str = "A", result_format: InfluxFormat = "time_series") -> None:
        self._internal = InfluxQLQuery(ref_id, query, result_format, None)

    def alias(self, alias: str) -> Self:
        self._internal.alias = alias
        return self

    def build(self) -> InfluxQLQuery:
        return self._internal


class SqlQuery(cogvariants.Dataquery):
    """One raw SQL target against the tickets database."""

    def __init__(self, ref_id: str, sql: str, result_format: SqlFormat) -> None:
        self.ref_id = ref_id
        self.sql = sql
        self.result_format = result_format

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": _ref(POSTGRES),
            "editorMode": "code",
            "format": self.result_format,
            "rawQuery": True,
            "rawSql": self.sql,
            "refId": self.ref_id,
        }


class Sql(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, sql: str, *, ref_id: str = "A", result_format: SqlFormat = "table") -> None:
        self._internal = SqlQuery(ref_id, sql, result_format)

    def build(self) -> SqlQuery:
        return self._internal


class SqlAnnotationTarget(AnnotationTarget):
    """An annotation query in SQL: rows with `time`, `timeend`, `text` and `tags` become annotations.

    The SDK's annotation target only knows Grafana's built-in annotations, so this replaces its
    JSON with a SQL data query, which is what Grafana stores for SQL annotation queries.
    """

    def __init__(self, sql: str) -> None:
        super().__init__()
        self.sql = sql

    def to_json(self) -> dict[str, object]:
        return SqlQuery("Anno", self.sql, "table").to_json()


class SqlAnnotation(cogbuilder.Builder[AnnotationTarget]):
    def __init__(self, sql: str) -> None:
        self._internal = SqlAnnotationTarget(sql)

    def build(self) -> SqlAnnotationTarget:
        return self._internal


def quantity_filter(quantity: str) -> str:
    """The WHERE clause of one quantity's readings in the dashboard's districts and time range."""
    return f"\"quantity\" = '{quantity}' AND {district_filter()} AND $timeFilter"


def district_filter() -> str:
    """Readings of the districts chosen in the `district` variable (a regex of the choices), on the field."""
    return '"district" =~ /^$district$/'

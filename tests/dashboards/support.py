"""Walk the generated dashboards' queries and run them against real servers, as Grafana would."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from dashboards.datasources import INFLUX_UID, POSTGRES_UID
from dashboards.interpolate import Dialect, TimeRange, interpolate


@dataclass(frozen=True)
class Query:
    dashboard: str
    where: str  # panel title, "variable x" or "annotation x"
    ref_id: str
    datasource_uid: str
    text: str

    @property
    def dialect(self) -> Dialect:
        return "influxql" if self.datasource_uid == INFLUX_UID else "sql"

    @property
    def id(self) -> str:
        return f"{self.dashboard}/{self.where}/{self.ref_id}"


def _panels(model: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def panel_queries(models: Mapping[str, Mapping[str, Any]]) -> list[Query]:
    found = []
    for uid, model in models.items():
        for panel in _panels(model):
            for target in panel.get("targets", []):
                source = (target.get("datasource") or panel.get("datasource") or {}).get("uid", "")
                text = target.get("query") or target.get("rawSql") or ""
                found.append(Query(uid, panel["title"], target["refId"], source, text))
        for annotation in model.get("annotations", {}).get("list", []):
            target = annotation["target"]
            found.append(Query(uid, f"annotation {annotation['name']}", target["refId"],
                               annotation["datasource"]["uid"], target["rawSql"]))  # fmt: skip
    return found


def variable_queries(model: Mapping[str, Any]) -> list[Query]:
    return [
        Query(model["uid"], f"variable {v['name']}", v["name"], v["datasource"]["uid"], v["query"])
        for v in model.get("templating", {}).get("list", [])
        if v.get("type") == "query"  # a textbox (the console's URL) asks no data source
    ]


@dataclass
class Servers:
    """The InfluxDB (HTTP base URL and database) and PostgreSQL (libpq URL) the dashboards read."""

    influx_http: str
    influx_db: str
    postgres: str

    def run(self, query: Query, variables: Mapping[str, Sequence[str]], time_range: TimeRange) -> list[list[Any]]:
        """The rows Grafana's data source would get back; raises on any error the server reports."""
        text = interpolate(query.text, variables, time_range, query.dialect)
        if query.datasource_uid == INFLUX_UID:
            return self.influx(text)
        assert query.datasource_uid == POSTGRES_UID, query
        with psycopg.connect(self.postgres) as conn:
            return [list(row) for row in conn.execute(text.encode()).fetchall()]

    def influx(self, text: str) -> list[list[Any]]:
        response = httpx.post(
            f"{self.influx_http}/query", data={"db": self.influx_db, "q": text, "epoch": "ms"}, timeout=30
        )
        response.raise_for_status()
        rows: list[list[Any]] = []
        for result in response.json()["results"]:
            assert "error" not in result, f"{text}: {result['error']}"
            for series in result.get("series", []):
                tags = list(series.get("tags", {}).values())
                rows.extend([*tags, *values] for values in series["values"])
        return rows

    def resolve_variables(self, model: Mapping[str, Any], time_range: TimeRange) -> dict[str, list[str]]:
        """Every variable on "All": its query's values, each query seeing the variables before it."""
        resolved: dict[str, list[str]] = {}
        for query in variable_queries(model):
            rows = self.run(query, resolved, time_range)
            # SHOW TAG VALUES rows are [key, value]; SQL variable rows are [value].
            resolved[query.ref_id] = sorted({str(row[-1]) for row in rows})
        return resolved

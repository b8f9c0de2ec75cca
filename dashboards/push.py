"""Push the dashboards and their data sources into a running Grafana, idempotently.

Every object is addressed by its uid. For each one the push reads what Grafana holds, decides
(`plan_datasource`, `plan_dashboard`: pure functions, tested on their own) whether to create it,
update it or leave it, and only then writes. A second run finds everything equal and writes
nothing, so pushing twice, or after a provisioned start, is safe.

Secrets (the InfluxDB token, the PostgreSQL password) cannot be read back from Grafana, so an
existing data source whose visible settings match keeps its secret unless `update_secrets`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from citysense.errors import CitysenseError
from dashboards.datasources import INFLUX_TYPE, INFLUX_UID, POSTGRES_TYPE, POSTGRES_UID

__all__ = [
    "Action",
    "DataSourceSettings",
    "GrafanaPushError",
    "Outcome",
    "datasource_payloads",
    "plan_dashboard",
    "plan_datasource",
    "push",
]

log = logging.getLogger(__name__)

# What Grafana adds to a data source or a dashboard on its own; never part of a comparison.
_DATASOURCE_VISIBLE = ("name", "type", "access", "url", "user", "isDefault")
_DASHBOARD_SERVER_KEYS = frozenset({"id", "version"})


class GrafanaPushError(CitysenseError):
    """Grafana refused or could not be reached; `status` is its HTTP status when it answered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # "datasource", "folder" or "dashboard"
    uid: str
    action: Action


@dataclass(frozen=True, slots=True)
class DataSourceSettings:
    """Where Grafana finds the stores (addresses as Grafana's own network sees them) and how it logs in."""

    influx_url: str
    postgres_host: str
    influx_database: str = "citysense"
    influx_token: str | None = None
    postgres_database: str = "citysense"
    postgres_user: str = "citysense"
    postgres_password: str | None = None
    postgres_sslmode: str = "disable"


def datasource_payloads(settings: DataSourceSettings) -> list[dict[str, Any]]:
    """The two data sources as Grafana's HTTP API takes them; the same as the provisioning file."""
    influx: dict[str, Any] = {
        "name": "citysense InfluxDB",
        "uid": INFLUX_UID,
        "type": INFLUX_TYPE,
        "access": "proxy",
        "url": settings.influx_url,
        "isDefault": True,
        "jsonData": {
            "version": "InfluxQL",
            "dbName": settings.influx_database,
            "httpMode": "POST",
            "httpHeaderName1": "Authorization",
        },
    }
    if settings.influx_token:
        influx["secureJsonData"] = {"httpHeaderValue1": f"Token {settings.influx_token}"}
    postgres: dict[str, Any] = {
        "name": "citysense tickets",
        "uid": POSTGRES_UID,
        "type": POSTGRES_TYPE,
        "access": "proxy",
        "url": settings.postgres_host,
        "user": settings.postgres_user,
        "isDefault": False,
        "jsonData": {
            "database": settings.postgres_database,
            "sslmode": settings.postgres_sslmode,
            "postgresVersion": 1600,
            "timescaledb": False,
        },
    }
    if settings.postgres_password:
        postgres["secureJsonData"] = {"password": settings.postgres_password}
    return [influx, postgres]


def plan_datasource(
    existing: Mapping[str, Any] | None, desired: Mapping[str, Any], *, update_secrets: bool = False
) -> Action:
    """Create when missing; update when a visible setting differs (or secrets are to be rewritten)."""
    if existing is None:
        return Action.CREATE
    if any(existing.get(key) != desired.get(key) for key in _DATASOURCE_VISIBLE if key in desired):
        return Action.UPDATE
    held = existing.get("jsonData") or {}
    if any(held.get(key) != value for key, value in desired.get("jsonData", {}).items()):
        return Action.UPDATE
    if update_secrets and desired.get("secureJsonData"):
        return Action.UPDATE
    return Action.UNCHANGED


def plan_dashboard(existing: Mapping[str, Any] | None, desired: Mapping[str, Any], *, folder_uid: str) -> Action:
    """`existing` is Grafana's `GET /api/dashboards/uid/{uid}` answer (`dashboard` and `meta`), or None."""
    if existing is None:
        return Action.CREATE
    held = {k: v for k, v in existing.get("dashboard", {}).items() if k not in _DASHBOARD_SERVER_KEYS}
    wanted = {k: v for k, v in desired.items() if k not in _DASHBOARD_SERVER_KEYS}
    if held != wanted or existing.get("meta", {}).get("folderUid") != folder_uid:
        return Action.UPDATE
    return Action.UNCHANGED


def _missing(exc: Exception) -> bool:
    return getattr(exc, "status_code", None) == 404


def _get(call: Any, *args: Any) -> dict[str, Any] | None:
    """A GET that answers None for 404 and lets other errors through."""
    from grafana_client.client import GrafanaClientError

    try:
        return dict(call(*args))
    except GrafanaClientError as exc:
        if _missing(exc):
            return None
        raise


def push(
    api: Any,
    dashboards: Mapping[str, Mapping[str, Any]],
    *,
    datasources: Sequence[Mapping[str, Any]] = (),
    folder_uid: str = "citysense",
    folder_title: str = "citysense",
    update_secrets: bool = False,
    dry_run: bool = False,
) -> list[Outcome]:
    """Bring Grafana to the given state; what was done to each object, in order.

    `api` is a `grafana_client.GrafanaApi` (untyped, hence Any here).
    """
    from grafana_client.client import GrafanaException

    outcomes: list[Outcome] = []
    try:
        for payload in datasources:
            uid = str(payload["uid"])
            existing = _get(api.datasource.get_datasource_by_uid, uid)
            action = plan_datasource(existing, payload, update_secrets=update_secrets)
            if not dry_run and action is Action.CREATE:
                api.datasource.create_datasource(dict(payload))
            elif not dry_run and action is Action.UPDATE:
                api.datasource.update_datasource_by_uid(uid, dict(payload))
            outcomes.append(Outcome("datasource", uid, action))

        folder = _get(api.folder.get_folder, folder_uid)
        if folder is None and not dry_run:
            api.folder.create_folder(folder_title, uid=folder_uid)
        outcomes.append(Outcome("folder", folder_uid, Action.CREATE if folder is None else Action.UNCHANGED))

        for uid, model in dashboards.items():
            existing = _get(api.dashboard.get_dashboard, uid)
            action = plan_dashboard(existing, model, folder_uid=folder_uid)
            if not dry_run and action is not Action.UNCHANGED:
                body = {k: v for k, v in model.items() if k not in _DASHBOARD_SERVER_KEYS}
                api.dashboard.update_dashboard(
                    {
                        "dashboard": body,
                        "folderUid": folder_uid,
                        "overwrite": True,
                        "message": "citysense dashboards push",
                    }
                )
            outcomes.append(Outcome("dashboard", uid, action))
    except GrafanaException as exc:
        raise GrafanaPushError(f"Grafana refused the push: {exc.message}", status=exc.status_code) from exc
    except OSError as exc:  # connection refused, DNS, TLS: niquests' errors derive from it
        raise GrafanaPushError(f"Grafana unreachable: {exc}") from exc
    return outcomes

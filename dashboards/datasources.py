"""The two Grafana data sources every dashboard uses, named once.

Dashboards refer to data sources by uid, so the uids here are a contract with the provisioning
files in `deploy/grafana/provisioning/datasources/` and with `citysense dashboards push`: a
provisioned Grafana and a pushed one resolve every panel the same way.
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.models.dashboard import DataSourceRef

__all__ = [
    "INFLUX",
    "INFLUX_TYPE",
    "INFLUX_UID",
    "POSTGRES",
    "POSTGRES_TYPE",
    "POSTGRES_UID",
]

INFLUX_UID: Final = "citysense-influxdb"
INFLUX_TYPE: Final = "influxdb"
# The PostgreSQL plugin's id since Grafana 10.3 (older Grafana called it "postgres").
POSTGRES_UID: Final = "citysense-postgres"
POSTGRES_TYPE: Final = "grafana-postgresql-datasource"

INFLUX: Final = DataSourceRef(type_val=INFLUX_TYPE, uid=INFLUX_UID)
POSTGRES: Final = DataSourceRef(type_val=POSTGRES_TYPE, uid=POSTGRES_UID)

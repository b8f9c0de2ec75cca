"""Device health: which devices report, which went silent and when each was last heard from, and
what the nodes say about themselves: the packs queued on their disk and their battery.

Queue depth and battery come from each node's retained MQTT status; ingest stores them in the
measurement `fleet_health` (tags `device`, `metric`; the registry's `district` and `kind` as
fields, so the same district and kind filters apply), at most one point per device and metric a
minute. A node whose sensors report no battery has no battery series.
"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import (
    DashboardRangeMapOptions,
    DataTransformerConfig,
    RangeMap,
    ValueMap,
    ValueMappingResult,
)

from dashboards.boards.common import REPORTING_WINDOW
from dashboards.datasources import INFLUX
from dashboards.panels import Board, stat_panel, state_timeline, table_panel, time_series
from dashboards.queries import InfluxQL, district_filter
from dashboards.variables import district_variable, kind_variable

UID = "citysense-devices"

_CHOSEN = f'{district_filter()} AND "kind" =~ /^$kind$/'


def build() -> Board:
    board = Board(
        UID, "Device health", "Devices reporting, devices gone silent, last seen.", tags=["devices"]
    ).variables(district_variable(), kind_variable())
    board.add(
        stat_panel(
            "Devices reporting",
            "Chosen devices that sent a reading in the last 30 minutes.",
            INFLUX,
            [
                InfluxQL(
                    'SELECT count("last") FROM (SELECT last("value") FROM "readings"'
                    f' WHERE time > now() - {REPORTING_WINDOW} AND {_CHOSEN} GROUP BY "device")'
                )
            ],
            bands=((None, "green"),),
        ),
        width=8,
        height=4,
    )
    board.add(
        stat_panel(
            "Devices seen in the time range",
            "Chosen devices with at least one reading in the time range; more than are reporting now "
            "means some have gone silent.",
            INFLUX,
            [
                InfluxQL(
                    'SELECT count("last") FROM (SELECT last("value") FROM "readings"'
                    f' WHERE $timeFilter AND {_CHOSEN} GROUP BY "device")'
                )
            ],
        ),
        width=8,
        height=4,
    )
    board.add(
        stat_panel(
            "Readings in the time range",
            "Readings the chosen devices delivered.",
            INFLUX,
            [InfluxQL(f'SELECT count("value") FROM "readings" WHERE $timeFilter AND {_CHOSEN}')],
        ),
        width=8,
        height=4,
    )
    board.add(
        state_timeline(
            "Reporting, per device",
            "Each device per 30 minutes: green when it delivered readings, red when silent (the newest "
            "half hour is still filling).",
            INFLUX,
            [
                InfluxQL(
                    f'SELECT count("value") FROM "readings" WHERE $timeFilter AND {_CHOSEN}'
                    f' GROUP BY time({REPORTING_WINDOW}), "device" fill(0)'
                ).alias("$tag_device")
            ],
            mappings=[
                ValueMap({"0": ValueMappingResult(text="silent", color="red", index=0)}),
                RangeMap(
                    DashboardRangeMapOptions(
                        from_val=1, to=1e12, result=ValueMappingResult(text="reporting", color="green", index=1)
                    )
                ),
            ],
            bands=((None, "red"), (1, "green")),
        ),
        width=24,
        height=12,
    )
    board.add(
        table_panel(
            "Last seen",
            "Each chosen device's newest reading in the time range; the longest silent first.",
            INFLUX,
            [
                InfluxQL(
                    f'SELECT last("value") AS "last value", "district", "kind" FROM "readings"'
                    f' WHERE $timeFilter AND {_CHOSEN} GROUP BY "device"',
                    result_format="table",
                )
            ],
            sort_by="last seen",
            transformations=[DataTransformerConfig(id_val="organize", options={"renameByName": {"Time": "last seen"}})],
        ),
        width=24,
        height=10,
    )
    board.add(
        time_series(
            "Queue depth, per device",
            "Packs waiting on each node's disk, from its status message: a queue that grows means the node "
            "measures but cannot deliver (network, broker or credentials), and its readings will arrive late.",
            INFLUX,
            [
                InfluxQL(
                    f'SELECT max("value") FROM "fleet_health" WHERE "metric" = \'queue_depth\' AND $timeFilter'
                    f' AND {_CHOSEN} GROUP BY time($__interval), "device" fill(none)'
                ).alias("$tag_device")
            ],
            unit="short",
        ),
        width=12,
    )
    board.add(
        time_series(
            "Battery, per device",
            "Battery level each node reports in its status message (nodes that know it); a falling line "
            "is a visit to plan before the node goes silent.",
            INFLUX,
            [
                InfluxQL(
                    f'SELECT min("value") FROM "fleet_health" WHERE "metric" = \'battery_pct\' AND $timeFilter'
                    f' AND {_CHOSEN} GROUP BY time($__interval), "device" fill(none)'
                ).alias("$tag_device")
            ],
            unit="percent",
            bands=((None, "red"), (20, "orange"), (40, "green")),
        ),
        width=12,
    )
    return board

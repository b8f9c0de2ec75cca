"""InfluxQL the dashboards share: readings of one quantity, per district or per device.

District and kind are fields of each reading, not tags (the series key is device and quantity, so
a registry change never stores a reading twice): InfluxQL filters on them but cannot group by
them. A per-district view is therefore one panel per chosen district (`per_district`), Grafana
repeating it with `$district` set to one district, its query filtered to that district.
"""

from __future__ import annotations

from typing import TypeVar

from dashboards.panels import PanelBuilder
from dashboards.queries import InfluxQL, district_filter

__all__ = [
    "DEVICES_REPORTING",
    "REPORTING_WINDOW",
    "by_device",
    "by_district",
    "latest_by_device",
    "per_district",
    "repeat_per",
]

P = TypeVar("P", bound=PanelBuilder)

# A device is reporting when it sent anything in the last 30 minutes: two missed reports of the
# slowest kind (bins, every 15 minutes), many of the minutely ones.
REPORTING_WINDOW = "30m"
DEVICES_REPORTING = (
    'SELECT count("last") FROM (SELECT last("value") FROM "readings"'
    f' WHERE time > now() - {REPORTING_WINDOW} AND {district_filter()} GROUP BY "device")'
)


def repeat_per(variable: str, panel: P) -> P:
    """Repeat `panel` once per chosen value of `variable`, side by side, its queries filtered by it."""
    return panel.repeat(variable).repeat_direction("h")  # type: ignore[return-value]


def per_district(panel: P) -> P:
    """Repeat `panel` once per chosen district; its queries use `district_filter()`."""
    return repeat_per("district", panel)


def by_district(quantity: str, aggregate: str = "mean") -> InfluxQL:
    """The district's series for a `per_district` panel: the `aggregate` of its devices' readings per interval."""
    return InfluxQL(
        f'SELECT {aggregate}("value") FROM "readings" WHERE "quantity" = \'{quantity}\' AND {district_filter()}'
        " AND $timeFilter GROUP BY time($__interval) fill(none)"
    ).alias("$district")


def by_device(quantity: str, aggregate: str = "mean") -> InfluxQL:
    """One series per device chosen in the `device` variable."""
    return InfluxQL(
        f'SELECT {aggregate}("value") FROM "readings" WHERE "quantity" = \'{quantity}\' AND "device" =~ /^$device$/'
        ' AND $timeFilter GROUP BY time($__interval), "device" fill(none)'
    ).alias("$tag_device")


def latest_by_device(quantity: str, column: str, *, ref_id: str = "A") -> InfluxQL:
    """A table row per device: its newest reading of `quantity` in the time range."""
    return InfluxQL(
        f'SELECT last("value") AS "{column}", "district" FROM "readings" WHERE "quantity" = \'{quantity}\''
        f' AND {district_filter()} AND $timeFilter GROUP BY "device"',
        ref_id=ref_id,
        result_format="table",
    )

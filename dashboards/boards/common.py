"""InfluxQL the dashboards share: readings of one quantity, per district or per device."""

from __future__ import annotations

from dashboards.queries import InfluxQL, district_filter

__all__ = ["DEVICES_REPORTING", "REPORTING_WINDOW", "by_device", "by_district", "latest_by_device"]

# A device is reporting when it sent anything in the last 30 minutes: two missed reports of the
# slowest kind (bins, every 15 minutes), many of the minutely ones.
REPORTING_WINDOW = "30m"
DEVICES_REPORTING = (
    'SELECT count("last") FROM (SELECT last("value") FROM "readings"'
    f' WHERE time > now() - {REPORTING_WINDOW} AND {district_filter()} GROUP BY "device")'
)


def by_district(quantity: str, aggregate: str = "mean") -> InfluxQL:
    """One series per district: the `aggregate` of its devices' readings per interval."""
    return InfluxQL(
        f'SELECT {aggregate}("value") FROM "readings" WHERE "quantity" = \'{quantity}\' AND {district_filter()}'
        ' AND $timeFilter GROUP BY time($__interval), "district" fill(none)'
    ).alias("$tag_district")


def by_device(quantity: str, aggregate: str = "mean") -> InfluxQL:
    """One series per device chosen in the `device` variable."""
    return InfluxQL(
        f'SELECT {aggregate}("value") FROM "readings" WHERE "quantity" = \'{quantity}\' AND "device" =~ /^$device$/'
        ' AND $timeFilter GROUP BY time($__interval), "device" fill(none)'
    ).alias("$tag_device")


def latest_by_device(quantity: str, column: str, *, ref_id: str = "A") -> InfluxQL:
    """A table row per device: its newest reading of `quantity` in the time range."""
    return InfluxQL(
        f'SELECT last("value") AS "{column}" FROM "readings" WHERE "quantity" = \'{quantity}\''
        f' AND {district_filter()} AND $timeFilter GROUP BY "device", "district"',
        ref_id=ref_id,
        result_format="table",
    )

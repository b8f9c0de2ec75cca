"""Variable and macro substitution as Grafana does it for InfluxQL and PostgreSQL."""

from __future__ import annotations

import pytest

from dashboards.interpolate import TimeRange, interpolate, variable_names

RANGE = TimeRange(1_790_000_000_000, 1_790_003_600_000, interval="5m")


def test_influxql_gets_a_regex_group_and_an_absolute_time_filter():
    text = (
        'SELECT mean("value") FROM "readings" WHERE "district" =~ /^$district$/ AND $timeFilter'
        " GROUP BY time($__interval)"
    )
    out = interpolate(text, {"district": ["kota-lama", "a.b"]}, RANGE, "influxql")
    assert out == (
        'SELECT mean("value") FROM "readings" WHERE "district" =~ /^(kota-lama|a\\.b)$/'
        " AND time >= 1790000000000ms and time <= 1790003600000ms GROUP BY time(5m)"
    )


def test_sql_gets_a_quoted_list_and_time_macros():
    text = (
        "SELECT $__timeGroupAlias(opened_at, '1h'), count(*) FROM tickets"
        " WHERE $__timeFilter(opened_at) AND district IN ($district)"
    )
    out = interpolate(text, {"district": ["kota-lama", "o'hare"]}, RANGE, "sql")
    assert out == (
        'SELECT floor(extract(epoch from opened_at)/3600)*3600 AS "time", count(*) FROM tickets'
        " WHERE opened_at BETWEEN '2026-09-21T14:13:20Z' AND '2026-09-21T15:13:20Z'"
        " AND district IN ('kota-lama','o''hare')"
    )


def test_an_undefined_variable_is_an_error_not_a_silent_leftover():
    assert variable_names("WHERE a =~ /^$district$/ AND b = ${kind} AND $timeFilter AND $__interval") == {
        "district",
        "kind",
    }
    with pytest.raises(KeyError):
        interpolate("WHERE device =~ /^$device$/", {"district": ["x"]}, RANGE, "influxql")


def test_an_unknown_macro_is_refused():
    with pytest.raises(ValueError, match="unsupported Grafana macro"):
        interpolate("SELECT $__unixEpochFilter(t)", {}, RANGE, "sql")

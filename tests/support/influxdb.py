"""Kept so that `from tests.support.influxdb import ...` keeps working: the code lives in
`testbed.influxdb`, shared with the benchmarks."""

from testbed.influxdb import InfluxDB, VictoriaMetrics, influxdb, victoria_metrics

__all__ = ["InfluxDB", "VictoriaMetrics", "influxdb", "victoria_metrics"]

"""Real servers on free loopback ports (Mosquitto, PostgreSQL databases, InfluxDB, VictoriaMetrics)
and small MQTT helpers, shared by the tests and the benchmarks.

It lives outside `tests/` so that `bench/` never imports the test suite; it is not installed with
the product (only a checkout runs tests and benchmarks).
"""

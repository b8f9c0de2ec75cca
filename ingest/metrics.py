"""Ingest's counters as Prometheus metrics on `/metrics`, read from the live counters on each scrape.

A collector of our own (no global registry) so several workers in one process, as in tests,
never clash, and the counters stay the one source of truth for both the log line and Prometheus.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ingest.counters import IngestCounters

__all__ = ["IngestCollector", "MetricsServer"]

log = logging.getLogger(__name__)

_COUNTERS = {
    "messages": ("citysense_ingest_messages_received", "MQTT messages received"),
    "readings": ("citysense_ingest_readings_received", "valid readings found in received messages"),
    "stored": ("citysense_ingest_readings_stored", "readings the store took as new"),
    "duplicates": ("citysense_ingest_readings_duplicate", "readings the store already had (redeliveries)"),
    "acknowledged": ("citysense_ingest_messages_acknowledged", "MQTT messages acknowledged after the store took them"),
    "deadletters": ("citysense_ingest_deadletters", "messages sent to the dead-letter topic"),
    "store_retries": ("citysense_ingest_store_retries", "store writes that failed and were tried again"),
    "batches": ("citysense_ingest_batches", "batches written to the store"),
}


class IngestCollector(Collector):
    def __init__(self, counters: IngestCounters) -> None:
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        snapshot = self.counters.snapshot()
        for key, (name, documentation) in _COUNTERS.items():
            yield CounterMetricFamily(name, documentation, value=snapshot[key])
        rejected = CounterMetricFamily(
            "citysense_ingest_rejected", "records or messages refused, by reason", labels=["reason"]
        )
        for reason, n in sorted(snapshot["rejected"].items()):
            rejected.add_metric([reason], n)
        yield rejected
        yield GaugeMetricFamily(
            "citysense_ingest_in_flight", "messages received, not yet acknowledged", snapshot["in_flight"]
        )
        yield GaugeMetricFamily(
            "citysense_ingest_lag_seconds",
            "from arrival of the oldest message of the last batch to its acknowledgement",
            snapshot["lag_s"],
        )


class MetricsServer:
    """A small HTTP server in the ingest process: `GET /metrics` in Prometheus' text format."""

    def __init__(self, counters: IngestCounters, *, host: str, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(IngestCollector(counters))
        self.host, self.port = host, port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self._server, self._thread = start_http_server(self.port, addr=self.host, registry=self.registry)
        except OSError as exc:
            # Metrics are for watching ingest, not a reason to stop it.
            log.warning("ingest metrics not served on %s:%d: %s", self.host, self.port, exc.strerror)
            return
        self.port = self._server.server_port
        log.info("ingest metrics on http://%s:%d/metrics", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

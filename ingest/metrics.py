"""Ingest's counters as Prometheus metrics on `/metrics`, read from the live counters on each scrape,
and its readiness on `/readyz` (200, or 503 with the reasons as JSON: see ingest/supervisor.py).

A collector of our own (no global registry) so several workers in one process, as in tests,
never clash, and the counters stay the one source of truth for both the log line and Prometheus.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from ingest.counters import IngestCounters

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from ingest.supervisor import Readiness

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


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes and probes every few seconds are not worth a log line."""


class MetricsServer:
    """A small HTTP server in the ingest process: `GET /metrics` (Prometheus) and `GET /readyz`."""

    def __init__(
        self,
        counters: IngestCounters,
        *,
        host: str,
        port: int,
        readiness: Callable[[], Readiness] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(IngestCollector(counters))
        self.readiness = readiness
        self.host, self.port = host, port
        self._metrics = make_wsgi_app(self.registry)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/readyz":
            metrics: Iterable[bytes] = self._metrics(environ, start_response)
            return metrics
        if self.readiness is None:
            body, status = {"ready": True, "fatal": False, "reasons": []}, "200 OK"
        else:
            state = self.readiness()
            body, status = state.to_json(), "200 OK" if state.ready else "503 Service Unavailable"
        payload = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    def start(self) -> None:
        try:
            self._server = make_server(self.host, self.port, self._app, ThreadingWSGIServer, handler_class=_Quiet)
        except OSError as exc:
            # Metrics are for watching ingest, not a reason to stop it.
            log.warning("ingest metrics not served on %s:%d: %s", self.host, self.port, exc.strerror)
            return
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="ingest-metrics", daemon=True)
        self._thread.start()
        log.info("ingest metrics on http://%s:%d/metrics, readiness on /readyz", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

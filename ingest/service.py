"""`citysense ingest` as a service: owns its store, its worker, its metrics endpoint and retention."""

from __future__ import annotations

from citysense.db import connect
from citysense.runtime import tune_gc_for_streams
from citysense.settings import IngestSettings
from citysense.timeseries import TimeSeriesStore, open_store
from ingest.fleet_status import StatusRecorder
from ingest.metrics import MetricsServer
from ingest.retention import RetentionTask
from ingest.worker import IngestWorker

__all__ = ["IngestService"]


class IngestService:
    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.store: TimeSeriesStore | None = None
        self.worker: IngestWorker | None = None
        self.metrics: MetricsServer | None = None
        self.retention: RetentionTask | None = None
        self.status: StatusRecorder | None = None

    def start(self) -> None:
        settings = self.settings
        self.store = open_store(settings.timeseries_url)
        self.worker = IngestWorker(settings, self.store)
        if settings.metrics_port:
            self.metrics = MetricsServer(self.worker.counters, host=settings.metrics_host, port=settings.metrics_port)
            self.metrics.start()
        self.retention = RetentionTask(self.store, max_age_s=settings.retention_s, every_s=settings.retention_check_s)
        self.retention.start()
        tune_gc_for_streams()
        self.worker.start()
        if settings.record_status:
            self.status = StatusRecorder(
                settings.broker, connect(settings.tickets_url), client_id=f"{settings.client_id}-status"
            )
            self.status.start()

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
        if self.worker is not None:
            self.worker.stop()
        if self.retention is not None:
            self.retention.stop()
        if self.metrics is not None:
            self.metrics.stop()
        if self.store is not None:
            self.store.close()

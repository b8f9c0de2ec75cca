"""`citysense ingest` as a service: owns its store and its worker."""

from __future__ import annotations

from citysense.settings import IngestSettings
from citysense.timeseries import TimeSeriesStore, open_store
from ingest.worker import IngestWorker

__all__ = ["IngestService"]


class IngestService:
    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.store: TimeSeriesStore | None = None
        self.worker: IngestWorker | None = None

    def start(self) -> None:
        self.store = open_store(self.settings.timeseries_url)
        self.worker = IngestWorker(self.settings, self.store)
        self.worker.start()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        if self.store is not None:
            self.store.close()

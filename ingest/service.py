"""`citysense ingest` as a service: owns its store, its worker, its supervisor, its metrics and
readiness endpoint and retention.

When the supervisor finds ingest fatally broken it records why (`fatal_reason`, also on `/readyz`)
and, after a short grace for probes to read it, signals the process to stop; the command then
exits non-zero so compose or systemd restarts it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence

from citysense.db import connect
from citysense.runtime import tune_gc_for_streams
from citysense.settings import IngestSettings
from citysense.timeseries import TimeSeriesStore, open_store
from ingest.fleet_status import StatusRecorder
from ingest.health import HealthReporter
from ingest.metrics import MetricsServer
from ingest.processors import Processor
from ingest.retention import RetentionTask
from ingest.supervisor import Readiness, Supervisor
from ingest.worker import IngestWorker

__all__ = ["IngestService"]

log = logging.getLogger(__name__)

_FATAL_GRACE_S = 2.0


def _terminate_process(reason: str) -> None:
    """Ask the process to stop as SIGTERM would (the command's own handler stops every service)."""
    threading.Timer(_FATAL_GRACE_S, os.kill, (os.getpid(), signal.SIGTERM)).start()


class IngestService:
    def __init__(
        self,
        settings: IngestSettings,
        *,
        processors: Sequence[Processor] = (),
        on_fatal: Callable[[str], None] = _terminate_process,
    ) -> None:
        self.settings = settings
        self.processors = processors
        self.on_fatal = on_fatal
        self.store: TimeSeriesStore | None = None
        self.worker: IngestWorker | None = None
        self.supervisor: Supervisor | None = None
        self.metrics: MetricsServer | None = None
        self.retention: RetentionTask | None = None
        self.status: StatusRecorder | None = None
        self.health: HealthReporter | None = None

    @property
    def fatal_reason(self) -> str | None:
        """Why ingest gave up, or None while it works (or after a normal stop)."""
        return self.supervisor.fatal_reason if self.supervisor is not None else None

    def readiness(self) -> Readiness:
        if self.supervisor is None:
            return Readiness(ready=False, fatal=False, reasons=("starting",))
        return self.supervisor.check()

    def start(self) -> None:
        settings = self.settings
        self.store = open_store(settings.timeseries_url)
        self.worker = IngestWorker(settings, self.store, processors=self.processors)
        if settings.metrics_port:
            self.metrics = MetricsServer(
                self.worker.counters, host=settings.metrics_host, port=settings.metrics_port, readiness=self.readiness
            )
            self.metrics.start()
        self.retention = RetentionTask(self.store, max_age_s=settings.retention_s, every_s=settings.retention_check_s)
        self.retention.start()
        tune_gc_for_streams()
        self.worker.start()
        if settings.record_status:
            # No migration from ingest (the `migrate` step owns the schema): an unreachable registry
            # database must not stop ingest from starting; the supervisor reports it instead.
            self.status = StatusRecorder(
                settings.broker,
                connect(settings.tickets_url, upgrade=False),
                client_id=f"{settings.client_id}-status",
                store=self.store,
                health_every_s=settings.status_health_every_s,
            )
            self.status.start()
        self.health = HealthReporter(
            self.store, self.worker.counters, worker=settings.client_id, every_s=settings.health_every_s
        )
        self.health.start()
        self.supervisor = Supervisor(self.worker, outage_s=settings.store_outage_s, on_fatal=self.on_fatal)
        self.supervisor.start()

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.status is not None:
            self.status.stop()
        if self.worker is not None:
            self.worker.stop()
        if self.health is not None:
            self.health.stop()
        if self.retention is not None:
            self.retention.stop()
        if self.metrics is not None:
            self.metrics.stop()
        if self.store is not None:
            self.store.close()

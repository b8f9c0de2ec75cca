"""Is ingest doing its job? The answer `/readyz` gives, and the decision to give up.

Ingest is *fatally broken* when one of its worker's threads has died, the store refused a batch
for good, or the store (or the device registry's database) has kept failing for longer than
`store_outage_s`: then nothing it does will help, so it says why and stops, and the process exits
non-zero for compose or systemd to restart it. Messages it had not acknowledged stay with the
broker. A shorter outage only makes it *not ready* (503 with the reason) while it retries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ingest.worker import IngestWorker

__all__ = ["Readiness", "Supervisor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    fatal: bool
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"ready": self.ready, "fatal": self.fatal, "reasons": list(self.reasons)}


class Supervisor:
    """Watches one worker; calls `on_fatal(reason)` once when it is fatally broken."""

    def __init__(
        self,
        worker: IngestWorker,
        *,
        outage_s: float,
        on_fatal: Callable[[str], None],
        every_s: float = 1.0,
    ) -> None:
        self.worker = worker
        self.outage_s = outage_s
        self.on_fatal = on_fatal
        self.every_s = every_s
        self.fatal_reason: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> Readiness:
        """The worker's state now: fatal reasons first, then what only makes it not ready."""
        worker, now = self.worker, time.monotonic()
        fatal: list[str] = []
        degraded: list[str] = []
        if worker.failure is not None:
            fatal.append(f"fatal error: {worker.failure}")
        elif not worker.stopping:
            fatal += [f"thread {t.name} is not running" for t in worker.threads if not t.is_alive()]
        sink = worker.sink
        if sink.failing_since is not None:
            down = now - sink.failing_since
            text = f"the store has refused writes for {down:.0f}s (limit {self.outage_s:.0f}s): {sink.last_error}"
            (fatal if down > self.outage_s else degraded).append(text)
        registry = worker.registry
        if registry.failing_since is not None:
            down = now - registry.failing_since
            text = f"the device registry has failed for {down:.0f}s (limit {self.outage_s:.0f}s): {registry.last_error}"
            (fatal if down > self.outage_s else degraded).append(text)
        if not worker.source.connected:
            degraded.append("not connected to the broker")
        if self.fatal_reason is not None and self.fatal_reason not in fatal:
            fatal.insert(0, self.fatal_reason)
        return Readiness(ready=not fatal and not degraded, fatal=bool(fatal), reasons=(*fatal, *degraded))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="ingest-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.wait(self.every_s):
            self.worker.registry.tags()  # re-reads it when due, so a registry that recovered is seen
            state = self.check()
            if state.fatal:
                self.fatal_reason = state.reasons[0]
                log.error("ingest is broken, stopping: %s", "; ".join(state.reasons))
                self.on_fatal(self.fatal_reason)
                return

"""What detectors and rules tell the ticket policy: a finding, with the evidence behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Finding"]

FindingKind = Literal["breach", "forecast", "fault", "anomaly"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One reading (or one silence) that says something is wrong.

    `scope` says what one incident is: a whole district (a flood, smoke) or one device (a full bin,
    a dark lamp, a broken sensor). `evidence` is what an operator needs to trust the ticket: the
    recent window, the scores, the detector and model version.
    """

    service_code: str
    scope: Literal["district", "device"]
    kind: FindingKind
    district: str
    device_id: str
    quantity: str
    value: float
    threshold: float
    severity: str
    detector: str
    score: float
    time_ms: int
    title: str
    evidence: dict[str, Any] = field(default_factory=dict)
    # The device's usual reporting interval: a bin that reports every 15 minutes is not "quiet"
    # after 10 minutes without a finding.
    interval_s: float = 0.0
    # How long this finding speaks for the incident: spikes come every few readings, not every reading,
    # so a spiking sensor's ticket should not resolve between two spikes.
    hold_s: float = 0.0
    # Whether residents see the ticket at once (an anomaly ticket may wait for an operator's confirmation).
    public: bool = True

    @property
    def dedupe_key(self) -> str:
        """One open ticket per key: `flood:sungai-barat`, `device_fault:kota-lama:kota-lama-air-03`."""
        if self.scope == "district":
            return f"{self.service_code}:{self.district}"
        if self.kind == "anomaly":  # one per device and quantity: `anomaly:kota-lama:kota-lama-air-03:pm25`
            return f"{self.service_code}:{self.district}:{self.device_id}:{self.quantity}"
        return f"{self.service_code}:{self.district}:{self.device_id}"

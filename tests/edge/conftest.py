"""Edge fixtures: agent configurations with virtual sensors, built as the TOML a node would have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.config import AgentConfig


def make_config(tmp_path: Path, broker_url: str, **overrides: Any) -> AgentConfig:
    raw: dict[str, Any] = {
        "device_id": "river-01",
        "broker": {"url": broker_url, "keepalive_s": 5},
        "queue": {"path": str(tmp_path / "queue.db"), "max_packs": 10_000, "drain_per_s": 200},
        "reconnect": {"initial_s": 0.2, "max_s": 1.0},
        "sensors": [
            {
                "name": "level",
                "driver": "virtual",
                "quantity": "water_level",
                "base": 1.2,
                "amplitude": 0.3,
                "interval_s": 0.05,
                "samples": 2,
            },
        ],
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return AgentConfig.model_validate(raw)


@pytest.fixture
def config_factory(tmp_path):
    def factory(broker_url: str, **overrides: Any) -> AgentConfig:
        return make_config(tmp_path, broker_url, **overrides)

    return factory

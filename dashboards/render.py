"""Dashboards as JSON: the same code always gives the same bytes, so a diff shows a real change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards.boards import ALL

__all__ = ["build_all", "dumps", "write_all"]


def build_all() -> dict[str, dict[str, Any]]:
    """Every dashboard as Grafana's JSON model, by uid, in menu order."""
    models: dict[str, dict[str, Any]] = {}
    for build in ALL:
        board = build()
        if board.uid in models:
            raise ValueError(f"two dashboards share the uid {board.uid!r}")
        # Through the SDK's encoder and back: plain dicts and lists, comparable and serialisable.
        models[board.uid] = json.loads(JSONEncoder().encode(board.dashboard.build()))
    return models


def dumps(model: dict[str, Any]) -> str:
    """Sorted keys, two-space indent, a final newline: stable across runs and Python versions."""
    return json.dumps(model, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_all(out: Path) -> list[Path]:
    """Write `{uid}.json` for every dashboard into `out`; files of other names are left alone."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for uid, model in build_all().items():
        path = out / f"{uid}.json"
        path.write_text(dumps(model), encoding="utf-8")
        written.append(path)
    return written

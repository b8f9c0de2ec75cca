"""Batch models per device kind and quantity: trained from the store's history, saved, reloaded.

During warm-up every reading passes a `WindowCollector`, which cuts each series into windows
(an hour by default) and keeps only their features, so training needs no second pass over the
store and little memory. One IsolationForest per `kind.quantity` (`air.pm25`, `water.water_level`)
is trained when there are enough windows, saved under the models folder with its metadata, and
loaded instead of retrained on the next start while it is younger than `max_age_s`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from analytics.detectors.forest import MODEL_VERSION, ForestModel, window_features
from analytics.engine import DeviceMeta
from citysense.wire import Reading

__all__ = ["WindowCollector", "load_models", "save_models", "train_models"]

log = logging.getLogger(__name__)


class WindowCollector:
    """Window features per `kind.quantity`, from a stream of readings it passes through unchanged."""

    def __init__(self, meta: Callable[[str], DeviceMeta], *, window_s: float = 3600.0, min_points: int = 5) -> None:
        self.meta, self.window_ms, self.min_points = meta, int(window_s * 1000), min_points
        self._open: dict[tuple[str, str], tuple[int, list[float]]] = {}
        self.windows: dict[str, list[list[float]]] = {}
        self.first_ms: int | None = None
        self.last_ms: int | None = None

    def add(self, r: Reading) -> None:
        self.first_ms = r.time_ms if self.first_ms is None else min(self.first_ms, r.time_ms)
        self.last_ms = r.time_ms if self.last_ms is None else max(self.last_ms, r.time_ms)
        key = (r.device_id, r.quantity)
        start, values = self._open.get(key, (r.time_ms, []))
        if r.time_ms - start >= self.window_ms:
            if len(values) >= self.min_points:
                name = f"{self.meta(r.device_id).kind}.{r.quantity}"
                self.windows.setdefault(name, []).append(window_features(values))
            start, values = r.time_ms, []
        values.append(r.value)
        self._open[key] = (start, values)

    def tee(self, readings: Iterable[Reading]) -> Iterator[Reading]:
        for r in readings:
            self.add(r)
            yield r


def train_models(collector: WindowCollector, *, min_windows: int = 24, seed: int = 0) -> dict[str, ForestModel]:
    """One model per `kind.quantity` with at least `min_windows` windows of history."""
    models = {}
    for name, windows in sorted(collector.windows.items()):
        if len(windows) < min_windows:
            continue
        model = ForestModel(name=name, window_s=collector.window_ms / 1000, seed=seed)
        models[name] = model.fit(windows, data_start_ms=collector.first_ms, data_end_ms=collector.last_ms)
    log.info("trained %d batch models from %d window sets", len(models), len(collector.windows))
    return models


def save_models(models: dict[str, ForestModel], folder: Path) -> None:
    for model in models.values():
        model.save(folder)


def load_models(folder: Path, *, max_age_s: float = 7 * 86_400.0) -> dict[str, ForestModel]:
    """Saved models of this version and younger than `max_age_s`; the rest are left to retrain."""
    models: dict[str, ForestModel] = {}
    if not folder.is_dir():
        return models
    now = datetime.now(UTC)
    for meta_path in sorted(folder.glob("*.json")):
        name = meta_path.stem
        try:
            info = json.loads(meta_path.read_text())
            age = (now - datetime.fromisoformat(info["trained_at"])).total_seconds()
            if info.get("version") != MODEL_VERSION or age > max_age_s:
                continue
            models[name] = ForestModel.load(folder, name)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring saved model %s: %s", name, exc)
    return models

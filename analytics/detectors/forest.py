"""Batch models: an IsolationForest on window features, per device kind and quantity.

Trained on history from the time-series store (so it knows what normal looked like in this city),
saved beside its version and training metadata, and reloaded on restart. scikit-learn scores the
other way round (low = anomalous); here it is converted at the boundary to the citysense
convention: high = anomalous, and 1.0 = beyond the `quantile` of the training windows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from citysense.wire import Reading

__all__ = ["FEATURES", "ForestDetector", "ForestModel", "ModelInfo", "window_features"]

FEATURES = ("mean", "std", "min", "max", "slope", "repeat_fraction", "step_max")
MODEL_VERSION = "window-forest-1"


def window_features(values: Sequence[float]) -> list[float]:
    """What a window of readings looks like, in numbers an IsolationForest can split on."""
    array = np.asarray(values, dtype=float)
    n = len(array)
    steps = np.abs(np.diff(array)) if n > 1 else np.zeros(1)
    slope = float(np.polyfit(np.arange(n), array, 1)[0]) if n > 2 else 0.0
    repeats = float(np.mean(steps == 0)) if n > 1 else 0.0
    return [
        float(array.mean()),
        float(array.std()),
        float(array.min()),
        float(array.max()),
        slope,
        repeats,
        float(steps.max()),
    ]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What is saved beside a model: enough to know what it is and whether it is still fit to use."""

    name: str
    version: str
    trained_at: str
    windows: int
    window_s: float
    features: tuple[str, ...]
    threshold: float
    seed: int
    sklearn_version: str
    data_start_ms: int | None = None
    data_end_ms: int | None = None


class ForestModel:
    """An IsolationForest over window features; `fit` returns self, fitted state ends in `_`."""

    def __init__(self, *, name: str, window_s: float = 3600.0, quantile: float = 0.99, seed: int = 0) -> None:
        if window_s <= 0 or not 0.5 < quantile < 1:
            raise ValueError("ForestModel needs window_s > 0 and 0.5 < quantile < 1")
        self.name, self.window_s, self.quantile, self.seed = name, window_s, quantile, seed
        self.estimator_: Any = None
        self.info_: ModelInfo | None = None

    def fit(
        self, windows: Sequence[Sequence[float]], *, data_start_ms: int | None = None, data_end_ms: int | None = None
    ) -> ForestModel:
        """Train on feature rows (`window_features` of normal windows)."""
        import sklearn
        from sklearn.ensemble import IsolationForest

        if len(windows) < 10:
            raise ValueError(f"{self.name}: need at least 10 windows to train, got {len(windows)}")
        features = np.asarray(windows, dtype=float)
        estimator = IsolationForest(n_estimators=100, random_state=self.seed).fit(features)
        raw = -estimator.score_samples(features)
        # IsolationForest scores near 0.5 are ordinary and well above it anomalous; never alarm below 0.6.
        threshold = max(float(np.quantile(raw, self.quantile)), 0.6)
        self.estimator_ = estimator
        self.info_ = ModelInfo(
            name=self.name,
            version=MODEL_VERSION,
            trained_at=datetime.now(UTC).isoformat(),
            windows=len(features),
            window_s=self.window_s,
            features=FEATURES,
            threshold=threshold,
            seed=self.seed,
            sklearn_version=sklearn.__version__,
            data_start_ms=data_start_ms,
            data_end_ms=data_end_ms,
        )
        return self

    def score(self, windows: Sequence[Sequence[float]]) -> list[float]:
        """High = anomalous; 1.0 is the training windows' `quantile`."""
        if self.estimator_ is None or self.info_ is None:
            raise RuntimeError(f"model {self.name} is not fitted: call fit() or load() first")
        raw = -self.estimator_.score_samples(np.asarray(windows, dtype=float))
        return [max(0.0, float(r)) / self.info_.threshold for r in raw]

    def save(self, folder: Path) -> Path:
        """`{name}.joblib` and `{name}.json` (the metadata, readable without loading the model)."""
        import joblib

        if self.info_ is None:
            raise RuntimeError(f"model {self.name} is not fitted")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.joblib"
        joblib.dump(self.estimator_, path)
        (folder / f"{self.name}.json").write_text(json.dumps(asdict(self.info_), indent=2))
        return path

    @classmethod
    def load(cls, folder: Path, name: str) -> ForestModel:
        """A saved model; refuses one of another model version (retrain instead of guessing)."""
        import joblib

        meta = json.loads((folder / f"{name}.json").read_text())
        meta["features"] = tuple(meta["features"])
        info = ModelInfo(**meta)
        if info.version != MODEL_VERSION:
            raise ValueError(f"model {name} is version {info.version}, this citysense reads {MODEL_VERSION}")
        model = cls(name=name, window_s=info.window_s, seed=info.seed)
        model.estimator_ = joblib.load(folder / f"{name}.joblib")
        model.info_ = info
        return model


class ForestDetector:
    """The forest as a streaming detector over one series: one score per closed window.

    With a fitted `model` it only scores. Without one it collects `train_windows` windows of its
    own, then trains (seeded) and scores from there on. `score_one` gives the score of the window
    the reading would close, or the last closed window's score while a window is filling.
    """

    name = "forest"

    def __init__(
        self,
        *,
        model: ForestModel | None = None,
        window_s: float = 3600.0,
        train_windows: int = 48,
        min_points: int = 5,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.window_ms = int((model.window_s if model is not None else window_s) * 1000)
        self.train_windows, self.min_points, self.seed = train_windows, min_points, seed
        self.current: list[float] = []
        self.window_start: int | None = None
        self.history: list[list[float]] = []
        self.last_score = 0.0

    def _closes(self, x: Reading) -> bool:
        return self.window_start is not None and x.time_ms - self.window_start >= self.window_ms

    def _score(self, values: list[float]) -> float:
        if self.model is None or len(values) < self.min_points:
            return 0.0
        (score,) = self.model.score([window_features(values)])
        return score if math.isfinite(score) else 0.0

    def learn_one(self, x: Reading) -> None:
        if self.window_start is None:
            self.window_start = x.time_ms
        if self._closes(x):
            if len(self.current) >= self.min_points:
                self.last_score = self._score(self.current)
                if self.model is None:
                    self.history.append(window_features(self.current))
                    if len(self.history) >= self.train_windows:
                        self.model = ForestModel(name="streaming", window_s=self.window_ms / 1000, seed=self.seed)
                        self.model.fit(self.history)
            self.current = []
            self.window_start = x.time_ms
        self.current.append(x.value)

    def score_one(self, x: Reading) -> float:
        if self._closes(x):
            return self._score(self.current)
        return self.last_score

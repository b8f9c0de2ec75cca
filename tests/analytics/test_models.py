"""Batch models: trained from windows of history, saved with metadata, reloaded, refused when stale."""

from __future__ import annotations

import json
import random

import pytest

from analytics.detectors.forest import ForestModel
from analytics.models import WindowCollector, load_models, save_models, train_models
from citysense.wire import Reading
from tests.analytics.support import meta

T0 = 1_790_000_000_000
MIN = 60_000


def history(days: int = 2) -> list[Reading]:
    rng = random.Random(5)
    return [
        Reading(d, "pm25", round(25 + rng.gauss(0, 3)), T0 + m * MIN)
        for m in range(days * 1440)
        for d in ("air-1", "air-2")
    ]


def test_models_are_trained_per_kind_and_quantity_and_survive_a_restart(tmp_path):
    collector = WindowCollector(meta)
    passed = list(collector.tee(history()))
    assert len(passed) == 2 * 2 * 1440  # the collector passes every reading through unchanged
    models = train_models(collector)
    assert sorted(models) == ["air.pm25"]
    save_models(models, tmp_path)

    info = json.loads((tmp_path / "air.pm25.json").read_text())
    assert info["version"] == "window-forest-1"
    assert info["windows"] >= 90
    assert info["data_start_ms"] == T0
    reloaded = load_models(tmp_path)
    stuck = [25.0] * 60
    normal = [25.0 + (i % 7) - 3 for i in range(60)]
    from analytics.detectors.forest import window_features

    rows = [window_features(stuck), window_features(normal)]
    assert reloaded["air.pm25"].score(rows) == models["air.pm25"].score(rows)
    assert reloaded["air.pm25"].score(rows)[0] > reloaded["air.pm25"].score(rows)[1]


def test_a_model_of_another_version_is_not_loaded(tmp_path):
    collector = WindowCollector(meta)
    list(collector.tee(history()))
    save_models(train_models(collector), tmp_path)
    info = json.loads((tmp_path / "air.pm25.json").read_text())
    info["version"] = "window-forest-0"
    (tmp_path / "air.pm25.json").write_text(json.dumps(info))
    assert load_models(tmp_path) == {}
    with pytest.raises(ValueError, match="version"):
        ForestModel.load(tmp_path, "air.pm25")


def test_an_unfitted_model_refuses_to_score():
    with pytest.raises(RuntimeError, match="not fitted"):
        ForestModel(name="x").score([[0.0] * 7])

"""Naive baselines in summary.json: the right rows, original units, the model's own points."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY_ARCH

FORECAST = {"in_chunk": [-7, 0], "out_chunk": [1, 3], "in_components": ["x1", "x2", "y1"], "out_components": ["y1"]}
TRAINER = {"max_epochs": 1, "limit_train_batches": 4, "limit_val_batches": 2, "accelerator": "cpu"}


def _test_points(ki, data: dict) -> np.ndarray:
    from knowit.data.datamodule import KnowItDataModule

    cfg = ki.config("x", {"data": data})
    return KnowItDataModule(cfg.data, cfg.exp_dir, cfg.seed).prepared.sets["test"].astype(np.int64)


def test_persistence_and_seasonal_baselines_match_hand_computed_values_in_original_units(ki) -> None:
    from knowit.data.store import DatasetStore

    data = {**FORECAST, "season": 5}
    result = ki.train_model("m", {"data": data, "arch": {"name": TINY_ARCH}, "trainer": TRAINER})
    report = result.baselines
    points = _test_points(ki, data)
    raw = DatasetStore(ki.exp_dir).load_series("synth_regression")  # never scaled
    y = raw.values[:, raw.components.index("y1")].astype(np.float64)
    targets = np.stack([y[points + k] for k in (1, 2, 3)], axis=1)
    persistence = np.repeat(y[points][:, None], 3, axis=1)  # the last input row t+0, every step
    # season 5 from anchor 0: steps 1..3 read rows t-4..t-2, inside every point's 8-row window
    seasonal = np.stack([y[points + k - 5] for k in (1, 2, 3)], axis=1)
    assert report["n_points"] == len(points)
    assert report["season"] == 5 and report["season_from"] == "data.season"
    assert "seasonal_fallback_points" not in report
    assert report["naive"]["persistence"]["mae"] == pytest.approx(np.abs(persistence - targets).mean(), rel=1e-6)
    assert report["naive"]["seasonal_persistence"]["mse"] == pytest.approx(((seasonal - targets) ** 2).mean(), rel=1e-6)
    # the model is scored on the same points, in original units: equal to its predictions table
    frame = ki.generate_predictions("m", {"predictor": {"prediction_set": "test"}})
    model_mae = (frame["prediction"] - frame["target"]).abs().mean()
    assert report["model"]["mae"] == pytest.approx(model_mae, rel=1e-5)
    assert report["skill"]["persistence"]["mae"] == pytest.approx(1 - model_mae / report["naive"]["persistence"]["mae"], rel=1e-5)
    import json

    saved = json.loads((result.run_dir / "summary.json").read_text())
    assert saved["baselines"]["naive"]["persistence"]["mae"] == report["naive"]["persistence"]["mae"]


def test_targets_inside_the_input_window_persist_the_row_before_them(ki) -> None:
    """out_chunk [0, 0] with in_chunk ending at 0: persistence must not read the target itself."""
    from knowit.data.store import DatasetStore

    data = {"in_chunk": [-3, 0], "out_chunk": [0, 0], "in_components": ["x1", "y1"], "out_components": ["y1"]}
    result = ki.train_model("m", {"data": data, "arch": {"name": TINY_ARCH}, "trainer": {**TRAINER, "limit_test_batches": 1.0}})
    points = _test_points(ki, data)
    raw = DatasetStore(ki.exp_dir).load_series("synth_regression")
    y = raw.values[:, raw.components.index("y1")].astype(np.float64)
    assert result.baselines["naive"]["persistence"]["mae"] == pytest.approx(np.abs(y[points - 1] - y[points]).mean(), rel=1e-6)
    assert result.baselines["naive"]["persistence"]["mae"] > 0  # reading row t itself would score 0


def test_classification_baseline_is_the_training_majority_class(ki) -> None:
    result = ki.train_model("c", {"data": {"name": "synth_classification", "task": "classification", "in_chunk": [-4, 0]},
                                  "arch": {"name": TINY_ARCH}, "trainer": {**TRAINER, "limit_test_batches": 1.0}})
    from knowit.data.datamodule import KnowItDataModule

    cfg = ki.config("x", {"data": {"name": "synth_classification", "task": "classification", "in_chunk": [-4, 0]}})
    prepared = KnowItDataModule(cfg.data, cfg.exp_dir, cfg.seed).prepared
    counts = prepared.class_counts
    majority = max(counts["train"], key=counts["train"].get)
    expected = counts["test"][majority] / sum(counts["test"].values())
    report = result.baselines
    assert report["naive"]["majority_class"]["accuracy"] == pytest.approx(expected)
    model_error = report["model"]["error_rate"]
    assert report["skill"]["majority_class"]["error_rate"] == pytest.approx(1 - model_error / (1 - expected))


def test_season_comes_from_the_config_then_the_calendar_then_the_time_step() -> None:
    from types import SimpleNamespace

    from knowit.comparison.baselines import infer_season

    hourly_ns = SimpleNamespace(freq=None, time_kind="datetime", time_delta=3600e9)
    assert infer_season(hourly_ns, 12) == (12, "data.season")
    assert infer_season(SimpleNamespace(freq="MS", time_kind="datetime", time_delta=0.0), None) == (12, "calendar frequency MS")
    assert infer_season(SimpleNamespace(freq="B", time_kind="datetime", time_delta=0.0), None)[0] == 5
    assert infer_season(SimpleNamespace(freq="W-SUN", time_kind="datetime", time_delta=0.0), None)[0] == 52
    assert infer_season(hourly_ns, None) == (24, "hourly time step")
    season, why = infer_season(SimpleNamespace(freq="15min", time_kind="datetime", time_delta=900e9), None)
    assert season is None and "set data.season" in why
    assert infer_season(SimpleNamespace(time_kind="numeric", time_delta=1.0), None)[0] is None


def test_a_model_that_loses_to_persistence_without_reading_the_targets_past_is_told_how_to(tmp_path, exp_dir, cli_main) -> None:
    """A nowcast of an imported store series (`data.out_chunk=[0,0]`; the imported config's
    default was that until it became a one-step forecast) estimates sales from the other
    columns, never reading sales' own past; persistence reads it and wins (s_default: skill
    -1.22). The baseline block says why and what a forecast needs."""
    import json

    import pandas as pd

    from conftest import TINY_OVERRIDES, TINY_TRAINER
    from knowit import KnowIt

    rng = np.random.default_rng(5)
    days = pd.date_range("2023-01-01", periods=200, freq="D")  # a steady trend: yesterday's sales are hard to beat
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "sales": (5000 + 20 * np.arange(200) + rng.normal(0, 10, 200)).round(2),
                  "promo": rng.integers(0, 2, 200)}).to_csv(tmp_path / "shop.csv", index=False)
    assert cli_main(["import", "shop.csv", "--name", "shop", "--time-column", "date", "--targets", "sales"], cwd=tmp_path, exp_dir=exp_dir).returncode == 0
    out = cli_main(["train", "data=shop", "data.out_chunk=[0,0]", "model_name=first", f"arch.name={TINY_ARCH}", *TINY_OVERRIDES], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0, out.stderr
    hint = ("the model's inputs (promo) leave out the past of sales, which persistence reads; to forecast from it, start data.out_chunk "
            "after data.in_chunk ends (data.out_chunk=[1,7]: 1 to 7 steps ahead) with sales among data.in_components")
    assert f"  note: {hint}\n" in out.stdout
    assert json.loads((exp_dir / "models" / "first" / "summary.json").read_text())["baselines"]["hint"] == hint
    ki = KnowIt(exp_dir)
    forecast = {"name": "shop", "in_chunk": [-13, 0], "out_chunk": [1, 7]}
    inputs_without = ki.train_model("fc_promo", {"data": {**forecast, "in_components": ["promo"]}, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER})
    assert inputs_without.baselines["skill"]["persistence"]["mae"] < 0
    assert inputs_without.baselines["hint"] == ("the model's inputs (promo) leave out the past of sales, which persistence reads; "
                                                "add sales to data.in_components to forecast from it")
    reads_it = ki.train_model("fc_both", {"data": {**forecast, "in_components": ["sales", "promo"]}, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER})
    assert "hint" not in reads_it.baselines  # it reads sales' past: nothing to point at, whatever its skill

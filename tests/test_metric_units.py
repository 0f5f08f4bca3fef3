"""Regression metrics are in the targets' original units: the values in metrics.csv, summary.json
and ``evaluate`` equal numpy's on the de-scaled predictions table; the loss stays scaled and is
logged as ``<stage>_loss_scaled``."""
from __future__ import annotations

import json

import numpy as np
import pytest

from knowit.training.callbacks import read_history
from tests.conftest import TINY_ARCH, TINY_TRAINER

FULL_EVAL = {**TINY_TRAINER, "limit_val_batches": 1.0, "limit_test_batches": 1.0, "performance_metrics": ["mae", "rmse", "mse", "r2", "mape"]}


def _numpy_metrics(frame) -> dict[str, float]:
    err = frame["prediction"].to_numpy() - frame["target"].to_numpy()
    target = frame["target"].to_numpy()
    return {
        "mae": float(np.abs(err).mean()),
        "mse": float((err**2).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": float(1 - (err**2).sum() / ((target - target.mean()) ** 2).sum()),
        "mape": float((np.abs(err) / np.maximum(np.abs(target), 1.17e-06)).mean()),
    }


def test_logged_regression_metrics_equal_numpy_on_the_descaled_predictions(ki):
    data = {"name": "synth_regression", "in_chunk": [-7, 0]}
    result = ki.train_model("units", {"data": data, "arch": {"name": TINY_ARCH}, "trainer": FULL_EVAL})
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["units"] == {"loss": "scaled targets (z-norm, fitted on training)", "metrics": "original units"}
    last_epoch = read_history(result.run_dir / "metrics.csv")[-1]
    evaluated = ki.evaluate("units", "valid")
    frame = ki.generate_predictions("units", {"predictor": {"prediction_set": "valid"}})
    expected = _numpy_metrics(frame)
    for name, value in expected.items():
        assert summary["metrics"][f"valid_{name}"] == pytest.approx(value, rel=1e-4), name
        assert evaluated[f"valid_{name}"] == pytest.approx(value, rel=1e-4), name
        assert last_epoch[f"valid_{name}"] == pytest.approx(value, rel=1e-4), name  # one epoch: best == last
    # The loss is the mse of the scaled targets: the original-units mse divided by the target's variance.
    scale = json.loads((result.run_dir / "scalers.json").read_text())["outputs"]["scale"][0]
    assert summary["metrics"]["valid_loss_scaled"] == pytest.approx(expected["mse"] / scale**2, rel=1e-3)
    assert "valid_loss" not in summary["metrics"] and "train_loss_scaled" in last_epoch  # the name says the space
    saved = (result.run_dir / "config.yaml").read_text()
    assert "monitor: valid_loss_scaled" in saved and "optimized_metric: valid_loss_scaled" in saved
    assert abs(scale - 1.0) > 0.05  # the check above can tell scaled from original units


@pytest.mark.parametrize(("data", "loss"), [
    ({"task": "regression"}, "valid_loss_scaled"),
    ({"task": "regression", "scaling_tag": "in_only"}, "valid_loss"),
    ({"task": "regression", "scaling_method": None}, "valid_loss"),
    ({"name": "synth_classification", "task": "classification", "scaling_tag": "in_only"}, "valid_loss"),
])
def test_the_loss_is_named_after_the_space_it_is_computed_in(data, loss):
    from knowit.config.compose import compose
    from knowit.config.run_config import validate
    from knowit.orchestrator import check_monitors

    raw = compose([f"data.{k}={'null' if v is None else v}" for k, v in data.items()])
    raw["trainer"]["lr_scheduler"], raw["trainer"]["lr_scheduler_kwargs"] = "ReduceLROnPlateau", {}
    cfg = validate(raw)
    assert (cfg.trainer.checkpoint.monitor, cfg.root.optimized_metric, cfg.trainer.lr_scheduler_kwargs["monitor"]) == (loss, loss, loss)
    check_monitors(cfg, [])  # the resolved names are the ones the run logs
    other = "valid_loss" if loss.endswith("_scaled") else "valid_loss_scaled"
    cfg.trainer.checkpoint.monitor = other
    with pytest.raises(Exception, match=f"trainer.checkpoint.monitor: '{other}' is not logged by this run"):
        check_monitors(cfg, [])

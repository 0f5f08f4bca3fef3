"""Regression metrics are in the targets' original units: the values in metrics.csv, summary.json
and ``evaluate`` equal numpy's on the de-scaled predictions table; the loss stays scaled."""
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
    assert summary["metrics"]["valid_loss"] == pytest.approx(expected["mse"] / scale**2, rel=1e-3)
    assert abs(scale - 1.0) > 0.05  # the check above can tell scaled from original units

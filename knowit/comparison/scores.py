"""Metrics in original units from prediction arrays, and skill against a naive forecast.

One implementation serves the run summary, ``knowit compare`` and the backtest, so a model and
its baselines are always scored by the same code on the same points. Regression values are
pooled over every point, output step and component (as the training metrics pool them).
"""
from __future__ import annotations

import numpy as np

REGRESSION_SCORES = ("mae", "rmse", "mse", "mape", "r2")
CLASSIFICATION_SCORES = ("accuracy", "error_rate")
# Scores where lower is better and zero is perfect: skill = 1 - score / naive score makes sense.
ERRORS = ("mae", "rmse", "mse", "mape", "error_rate")


def regression_scores(predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    p = np.asarray(predictions, dtype=np.float64).ravel()
    t = np.asarray(targets, dtype=np.float64).ravel()
    err = p - t
    mse = float(np.mean(err**2))
    total = float(np.sum((t - t.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(mse)),
        "mse": mse,
        # torchmetrics' MAPE guards zero targets the same way (epsilon 1.17e-6)
        "mape": float(np.mean(np.abs(err) / np.maximum(np.abs(t), 1.17e-06))),
        "r2": 1.0 - float(np.sum(err**2)) / total if total > 0 else float("nan"),
    }


def classification_scores(predicted: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    accuracy = float(np.mean(np.asarray(predicted) == np.asarray(targets)))
    return {"accuracy": accuracy, "error_rate": 1.0 - accuracy}


def scores(task: str, predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    if task == "classification":
        return classification_scores(predictions, targets)
    return regression_scores(predictions, targets)


def skill(model: dict[str, float], naive: dict[str, float]) -> dict[str, float]:
    """``1 - model / naive`` for every error score (1: perfect, 0: no better than naive, < 0: worse)."""
    out = {}
    for name in ERRORS:
        if name in model and name in naive:
            out[name] = 1.0 - model[name] / naive[name] if naive[name] > 0 else float("nan")
    return out


def point_losses(predictions: np.ndarray, targets: np.ndarray, loss: str = "squared") -> np.ndarray:
    """One loss per point: the mean over its output steps and components (regression)."""
    err = np.asarray(predictions, dtype=np.float64) - np.asarray(targets, dtype=np.float64)
    err = err.reshape(len(err), -1)
    return np.mean(err**2 if loss == "squared" else np.abs(err), axis=1)

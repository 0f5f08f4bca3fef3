"""Epoch-level performance metrics (torchmetrics), computed over the whole epoch, not averaged per batch."""
from __future__ import annotations

import torch
import torchmetrics
from torchmetrics import regression as R

from knowit.errors import KnowItConfigError

CLASSIFICATION = ("accuracy", "f1", "precision", "recall", "auroc")
REGRESSION = ("r2", "mae", "mse", "rmse", "mape")
DEFAULTS = {"classification": ["accuracy"], "regression": ["mae"]}


def check_metric_names(names: list[str] | None, task: str) -> list[str]:
    """Validate metric names for a task (before any training); returns the effective list."""
    if names is None:
        return list(DEFAULTS[task])
    allowed = CLASSIFICATION if task == "classification" else REGRESSION
    for i, name in enumerate(names):
        if name.lower() not in allowed:
            raise KnowItConfigError(
                f"trainer.performance_metrics[{i}]: {name!r} is not a {task} metric; choose from: {', '.join(allowed)}"
            )
    return [n.lower() for n in names]


def build_metrics(names: list[str], task: str, n_classes: int | None) -> torchmetrics.MetricCollection:
    metrics: dict[str, torchmetrics.Metric] = {}
    for name in names:
        if task == "classification":
            kw = {"task": "multiclass", "num_classes": n_classes}
            metrics[name] = {
                "accuracy": lambda: torchmetrics.Accuracy(**kw),
                "f1": lambda: torchmetrics.F1Score(average="macro", **kw),
                "precision": lambda: torchmetrics.Precision(average="macro", **kw),
                "recall": lambda: torchmetrics.Recall(average="macro", **kw),
                "auroc": lambda: torchmetrics.AUROC(**kw),
            }[name]()
        else:
            metrics[name] = {
                "r2": lambda: R.R2Score(),
                "mae": lambda: R.MeanAbsoluteError(),
                "mse": lambda: R.MeanSquaredError(),
                "rmse": lambda: R.MeanSquaredError(squared=False),
                "mape": lambda: R.MeanAbsolutePercentageError(),
            }[name]()
    return torchmetrics.MetricCollection(metrics)


def metric_inputs(output: torch.Tensor, target: torch.Tensor, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Shape model output and target the way torchmetrics expects for the task."""
    if task == "classification":
        return output.softmax(dim=-1), target
    n = output.shape[0]
    return output.reshape(n, -1).flatten(), target.reshape(n, -1).flatten()

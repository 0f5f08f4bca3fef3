"""Epoch-level performance metrics (torchmetrics), computed over the whole epoch, not averaged per batch.

Regression metrics are in the targets' original units; the loss is in the space it is optimised
in (scaled targets when ``data.scaling_tag=full``).
"""
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


class EpochMetrics(torch.nn.Module):
    """One stage's mean loss and performance metrics over an epoch.

    Batches are buffered and handed to torchmetrics ``FLUSH_EVERY`` at a time: each torchmetrics
    update costs ~0.1-0.2 ms of Python, a sizeable share of a small model's training step. The
    metrics are sums over samples, so buffering changes no value.
    """

    FLUSH_EVERY = 32

    def __init__(self, names: list[str], task: str, n_classes: int | None, stage: str, target_scaling: dict[str, list[float]] | None = None):
        super().__init__()
        self.task, self.loss_key = task, f"{stage}_loss"
        self.metrics = build_metrics(names, task, n_classes).clone(prefix=f"{stage}_")
        # Regression metrics are reported in the targets' original units: outputs and targets are
        # de-scaled (one affine op on the buffered batches, at flush time, not per step). The loss
        # stays in the scaled space it is optimised in. Not persistent: checkpoints keep their keys.
        self.descale = target_scaling is not None and task == "regression"
        if self.descale:
            self.register_buffer("target_shift", torch.tensor(target_scaling["shift"], dtype=torch.float32), persistent=False)
            self.register_buffer("target_scale", torch.tensor(target_scaling["scale"], dtype=torch.float32), persistent=False)
        self.mean_loss = torchmetrics.MeanMetric()
        self._outputs: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []
        self._loss_sums: list[torch.Tensor] = []
        self._count = 0

    def update(self, loss: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> None:
        n = target.shape[0]
        self._outputs.append(output.detach())
        self._targets.append(target)
        self._loss_sums.append(loss.detach() * n)
        self._count += n
        if len(self._outputs) >= self.FLUSH_EVERY:
            self._flush()

    def _flush(self) -> None:
        if not self._outputs:
            return
        outputs, targets = torch.cat(self._outputs), torch.cat(self._targets)
        if self.descale:  # the component axis is the last one of outputs and targets
            outputs = torch.addcmul(self.target_shift, outputs.float(), self.target_scale)
            targets = torch.addcmul(self.target_shift, targets.float(), self.target_scale)
        self.metrics.update(*metric_inputs(outputs, targets, self.task))
        self.mean_loss.update(torch.stack(self._loss_sums).sum() / self._count, weight=self._count)
        self._outputs, self._targets, self._loss_sums, self._count = [], [], [], 0

    def compute(self) -> dict[str, torch.Tensor]:
        self._flush()
        return {self.loss_key: self.mean_loss.compute(), **self.metrics.compute()}

    def reset(self) -> None:
        self._outputs, self._targets, self._loss_sums, self._count = [], [], [], 0
        self.mean_loss.reset()
        self.metrics.reset()

"""Epoch-level performance metrics (torchmetrics), computed over the whole epoch, not averaged per batch.

``trainer.performance_metrics`` is a list whose entries are
- a built-in name (classification: accuracy, f1, precision, recall, auroc; regression: r2, mae,
  mse, rmse, mape), logged under that name;
- any ``torchmetrics`` metric class by name, any case (``MeanSquaredLogError``, ``CohenKappa``),
  logged in snake case (``mean_squared_log_error``); classification metrics get
  ``task='multiclass'`` and ``num_classes`` unless given;
- ``package.module.name``: the user's own function ``fn(preds, target, **kwargs) -> scalar``
  (called once per epoch on the whole epoch's predictions) or ``torchmetrics.Metric`` subclass,
  logged under ``name``;
- a mapping ``{name: <one of the above>, <keyword arguments>}``: the metric with arguments
  (``log_as: <key>`` logs it under another name, e.g. a second accuracy with ``average: macro``).
Predictions reach a metric as class probabilities ``(N, n_classes)`` with labels ``(N,)``
(classification) or as flat values with flat targets (regression).

Regression metrics are in the targets' original units; the loss is in the space it is optimised
in, and where that is scaled regression targets (``data.scaling_tag=full``) it is logged as
``<stage>_loss_scaled`` instead of ``<stage>_loss``.
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, Union

import torch
import torchmetrics
from torchmetrics import regression as R
from torchmetrics.utilities import dim_zero_cat

from knowit.config.schema import loss_name
from knowit.errors import KnowItConfigError
from knowit.training.losses import import_callable

CLASSIFICATION = ("accuracy", "f1", "precision", "recall", "auroc")
REGRESSION = ("r2", "mae", "mse", "rmse", "mape")
DEFAULTS = {"classification": ["accuracy"], "regression": ["mae"]}
MetricEntry = Union[str, dict]  # a name, or {"name": name, **kwargs}


def _torchmetrics_classes() -> dict[str, type[torchmetrics.Metric]]:
    """Every public torchmetrics metric class, keyed by lower-case name."""
    import torchmetrics.classification as C

    found = {}
    for module in (torchmetrics, R, C):
        for name in getattr(module, "__all__", []):
            cls = getattr(module, name, None)
            if isinstance(cls, type) and issubclass(cls, torchmetrics.Metric) and not inspect.isabstract(cls):
                found.setdefault(name.lower(), cls)
    found.pop("metric", None)
    return found


TORCHMETRICS = _torchmetrics_classes()


def _torchmetrics_class(name: str) -> type[torchmetrics.Metric] | None:
    """A torchmetrics class by name, any case, CamelCase or snake_case (``mean_squared_log_error``)."""
    return TORCHMETRICS.get(name.lower().replace("_", ""))


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _split(entry: MetricEntry, key: str) -> tuple[str, dict[str, Any]]:
    """``(name, kwargs)`` of a metric entry."""
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
        return entry["name"], {k: v for k, v in entry.items() if k not in ("name", "log_as")}
    raise KnowItConfigError(f"{key}: expected a metric name or a mapping with a name and its arguments, got {entry!r}")


def metric_key(entry: MetricEntry) -> str:
    """The name a metric is logged under (``valid_<key>``)."""
    name, _ = _split(entry, "trainer.performance_metrics")
    if isinstance(entry, Mapping) and entry.get("log_as"):
        return str(entry["log_as"])
    if name.lower() in CLASSIFICATION + REGRESSION:
        return name.lower()
    if "." in name:
        return name.rpartition(".")[2]
    cls = _torchmetrics_class(name)
    return _snake(cls.__name__) if cls is not None else name.lower()


def check_metric_names(entries: list[MetricEntry] | None, task: str) -> list[MetricEntry]:
    """Validate metric entries for a task (before any training); returns the effective list,
    built-in names in lower case. Building each metric checks its name and arguments."""
    if entries is None:
        return list(DEFAULTS[task])
    builtin = CLASSIFICATION if task == "classification" else REGRESSION
    other = REGRESSION if task == "classification" else CLASSIFICATION
    out: list[MetricEntry] = []
    keys: dict[str, int] = {}
    for i, entry in enumerate(entries):
        path = f"trainer.performance_metrics[{i}]"
        name, kwargs = _split(entry, path)
        if name.lower() in other:
            raise KnowItConfigError(f"{path}: {name!r} is not a {task} metric; choose from: {', '.join(builtin)}, a torchmetrics class or a dotted path")
        if name.lower() in builtin:
            entry = {**entry, "name": name.lower()} if isinstance(entry, Mapping) else name.lower()
        _build_one(entry, task, 2, path)
        key = metric_key(entry)
        if key in keys:
            raise KnowItConfigError(f"{path}: {name!r} is logged as {key!r}, like entry {keys[key]}; give each metric once")
        keys[key] = i
        out.append(entry)
    return out


class EpochFunction(torchmetrics.Metric):
    """A user's function ``fn(preds, target, **kwargs)`` evaluated once on the whole epoch."""

    full_state_update = False

    def __init__(self, fn: Callable[..., Any], kwargs: dict[str, Any]):
        super().__init__()
        self.fn, self.kwargs = fn, kwargs
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.preds.append(preds)
        self.target.append(target)

    def compute(self) -> torch.Tensor:
        return torch.as_tensor(self.fn(dim_zero_cat(self.preds), dim_zero_cat(self.target), **self.kwargs), dtype=torch.float32)


def _build_one(entry: MetricEntry, task: str, n_classes: int | None, key: str) -> torchmetrics.Metric:
    name, kwargs = _split(entry, key)
    lower = name.lower()
    if task == "classification" and lower in CLASSIFICATION:
        kw = {"task": "multiclass", "num_classes": n_classes, **({"average": "macro"} if lower in ("f1", "precision", "recall") else {}), **kwargs}
        cls: Any = {"accuracy": torchmetrics.Accuracy, "f1": torchmetrics.F1Score, "precision": torchmetrics.Precision,
                    "recall": torchmetrics.Recall, "auroc": torchmetrics.AUROC}[lower]
        return _construct(cls, kw, name, key)
    if task == "regression" and lower in REGRESSION:
        cls, kw = {"r2": (R.R2Score, {}), "mae": (R.MeanAbsoluteError, {}), "mse": (R.MeanSquaredError, {}),
                   "rmse": (R.MeanSquaredError, {"squared": False}), "mape": (R.MeanAbsolutePercentageError, {})}[lower]
        return _construct(cls, {**kw, **kwargs}, name, key)
    if "." in name:
        found = import_callable(name, key)
        if isinstance(found, type) and issubclass(found, torchmetrics.Metric):
            return _construct(found, kwargs, name, key)
        return EpochFunction(found, kwargs)
    cls = _torchmetrics_class(name)
    if cls is not None:
        params = inspect.signature(cls).parameters
        defaults = {"task": "multiclass", "num_classes": n_classes} if task == "classification" else {}
        return _construct(cls, {**{k: v for k, v in defaults.items() if k in params}, **kwargs}, name, key)
    builtin = CLASSIFICATION if task == "classification" else REGRESSION
    raise KnowItConfigError(
        f"{key}: {name!r} is not a {task} metric; choose from: {', '.join(builtin)}, any torchmetrics class "
        f"(e.g. {'CohenKappa, MatthewsCorrCoef' if task == 'classification' else 'MeanSquaredLogError, ExplainedVariance'}), "
        "or a dotted path to your own function"
    )


def _construct(cls: type, kwargs: dict[str, Any], name: str, key: str) -> torchmetrics.Metric:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise KnowItConfigError(f"{key}: {name} cannot be built with {kwargs}: {first}") from None


def build_metrics(entries: list[MetricEntry], task: str, n_classes: int | None) -> torchmetrics.MetricCollection:
    return torchmetrics.MetricCollection(
        {metric_key(e): _build_one(e, task, n_classes, f"trainer.performance_metrics[{i}]") for i, e in enumerate(entries)}
    )


def check_on_one_batch(entries: list[MetricEntry], task: str, n_classes: int | None, output: torch.Tensor, target: torch.Tensor) -> None:
    """Run every metric that is not built in on one batch; a failure or a non-scalar result is a
    KnowItConfigError naming the entry (before any training)."""
    builtin = CLASSIFICATION + REGRESSION
    for i, entry in enumerate(entries):
        name, _ = _split(entry, "trainer.performance_metrics")
        if name.lower() in builtin:
            continue
        key = f"trainer.performance_metrics[{i}]"
        metric = _build_one(entry, task, n_classes, key)
        try:
            metric.update(*metric_inputs(output, target, task))
            value = metric.compute()
        except Exception as err:  # noqa: BLE001 - any failure of the user's metric is reported as config
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise KnowItConfigError(f"{key}: {name} fails on one batch of this data: {type(err).__name__}: {first}") from None
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise KnowItConfigError(f"{key}: {name} must return one number per epoch, it returned {shape}")


def metric_inputs(output: torch.Tensor, target: torch.Tensor, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Shape model output and target the way torchmetrics expects for the task."""
    if task == "classification":
        return output.softmax(dim=-1), target
    n = output.shape[0]
    return output.reshape(n, -1).flatten(), target.reshape(n, -1).flatten()


class _Batches:
    """The batches buffered since the last flush: a plain object, so the per-step appends and
    count skip nn.Module.__setattr__."""

    def __init__(self) -> None:
        self.outputs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []
        self.losses: list[torch.Tensor] = []  # each batch's mean loss
        self.sizes: list[int] = []


class EpochMetrics(torch.nn.Module):
    """One stage's mean loss and performance metrics over an epoch.

    Batches are buffered and handed to torchmetrics ``FLUSH_EVERY`` at a time: each torchmetrics
    update costs ~0.1-0.2 ms of Python, a sizeable share of a small model's training step. The
    metrics are sums over samples, so buffering changes no value.
    """

    FLUSH_EVERY = 32

    def __init__(self, names: list[MetricEntry], task: str, n_classes: int | None, stage: str, target_scaling: dict[str, list[float]] | None = None):
        super().__init__()
        self.task = task
        self.metrics = build_metrics(names, task, n_classes).clone(prefix=f"{stage}_")
        # Regression metrics are reported in the targets' original units: outputs and targets are
        # de-scaled (one affine op on the buffered batches, at flush time, not per step). The loss
        # stays in the scaled space it is optimised in, and its name says so. Not persistent:
        # checkpoints keep their keys.
        self.descale = target_scaling is not None and task == "regression"
        self.loss_key = loss_name(stage, self.descale)
        if self.descale:
            self.register_buffer("target_shift", torch.tensor(target_scaling["shift"], dtype=torch.float32), persistent=False)
            self.register_buffer("target_scale", torch.tensor(target_scaling["scale"], dtype=torch.float32), persistent=False)
        self.mean_loss = torchmetrics.MeanMetric()
        self._buffer = _Batches()

    def update(self, loss: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> None:
        buffer, n = self._buffer, target.shape[0]
        buffer.outputs.append(output.detach())
        buffer.targets.append(target)
        buffer.losses.append(loss.detach())
        buffer.sizes.append(n)
        if len(buffer.outputs) >= self.FLUSH_EVERY:
            self._flush()

    def _flush(self) -> None:
        buffer = self._buffer
        if not buffer.outputs:
            return
        outputs, targets = torch.cat(buffer.outputs), torch.cat(buffer.targets)
        if self.descale:  # the component axis is the last one of outputs and targets
            outputs = torch.addcmul(self.target_shift, outputs.float(), self.target_scale)
            targets = torch.addcmul(self.target_shift, targets.float(), self.target_scale)
        self.metrics.update(*metric_inputs(outputs, targets, self.task))
        sizes = torch.tensor(buffer.sizes, dtype=torch.float32, device=outputs.device)
        count = sum(buffer.sizes)
        self.mean_loss.update(torch.dot(torch.stack(buffer.losses).float(), sizes) / count, weight=count)
        self._buffer = _Batches()

    def compute(self) -> dict[str, torch.Tensor]:
        self._flush()
        return {self.loss_key: self.mean_loss.compute(), **self.metrics.compute()}

    def reset(self) -> None:
        self._buffer = _Batches()
        self.mean_loss.reset()
        self.metrics.reset()

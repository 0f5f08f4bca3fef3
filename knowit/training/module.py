"""``KnowItModule``: the system around an architecture — loss, metrics, optimiser, state hooks.

Hyperparameters are plain containers only (strings, numbers, lists, dicts), so a checkpoint
loads with ``torch.load(..., weights_only=True)`` and the module rebuilds from it alone.
"""
from __future__ import annotations

import inspect
import math
import re
from typing import Any

import pytorch_lightning as pl
import torch

from knowit import registry
from knowit.errors import KnowItConfigError, KnowItRunError
from knowit.config.validate import build
from knowit.training.losses import make_loss
from knowit.training.metrics import CLASSIFICATION, REGRESSION, EpochMetrics, check_on_one_batch

BUILTIN_METRICS = CLASSIFICATION + REGRESSION
from knowit.training.optimizers import make_optimizer, make_scheduler, scheduler_name

STAGES = ("train", "valid", "test")


FINITE_CHECK_EVERY = 32  # accelerator batches between reads of the non-finite-loss flag


class NonFiniteLoss(KnowItRunError):
    """The training loss became NaN or infinite (the NaN guard stopped the run)."""


# Set around every hook call (Lightning: ~40 times a training step) and every training step;
# plain attributes, so they skip nn.Module.__setattr__'s parameter/module/buffer checks.
_HOT_ATTRIBUTES = frozenset({"_current_fx_name", "_batch_idx"})


def _key(stage: str) -> str:
    return f"{stage}_set"  # plain "train" would clash with nn.Module.train


def build_model(arch_module: str, arch_args: dict[str, Any], input_dim: list[int], output_dim: list[int], task: str) -> tuple[torch.nn.Module, bool]:
    """The arch's model and whether it carries states between batches (its ``STATEFUL_ARG``)."""
    module = registry.resolve(arch_module)
    args = build(module.ArchArgs, arch_args, "arch")
    try:
        model = module.Model(list(input_dim), list(output_dim), task, args)
    except (MemoryError, RuntimeError) as err:
        if not isinstance(err, MemoryError) and "memory" not in str(err).lower():
            raise
        need = re.search(r"allocate (\d+) bytes", str(err))
        size = f" (one tensor alone needs {int(need.group(1)) / 2**30:.1f} GiB)" if need else ""
        raise KnowItConfigError(f"arch: {arch_module.split('.')[-1]} with {_sizes(arch_args)} does not fit in memory{size}; "
                                "choose a smaller model") from None
    return model, registry.stateful_key(module, args) is not None


def _sizes(arch_args: dict[str, Any]) -> str:
    """The numeric settings that size a model, for the out-of-memory message."""
    return ", ".join(f"arch.{k}={v}" for k, v in arch_args.items() if isinstance(v, int) and not isinstance(v, bool)) or "these settings"


def code_hparams(cfg: Any) -> dict[str, Any]:
    """The hyperparameters that choose code (architecture, loss, metrics, optimiser, scheduler),
    from a validated ``RunConfig``: training saves them, loading rebuilds them from the run's
    config (never from the strings a checkpoint carries)."""
    from knowit.config.validate import to_plain
    from knowit.training.losses import check_loss_name
    from knowit.training.metrics import check_metric_names

    t = cfg.trainer
    return {
        "arch_module": cfg.arch.module,
        "arch_args": to_plain(cfg.arch.args),
        "loss_fn": check_loss_name(t.loss_fn, cfg.data.task),
        "performance_metrics": check_metric_names(t.performance_metrics, cfg.data.task),
        "optim": t.optim,
        "learning_rate": t.learning_rate,
        "weight_decay": t.weight_decay,
        "optim_kwargs": t.optim_kwargs,
        "lr_scheduler": t.lr_scheduler,
        "lr_scheduler_kwargs": t.lr_scheduler_kwargs,
        "loss_kwargs": t.loss_kwargs,
    }


def per_process_buffers(model: torch.nn.Module, prefix: str = "") -> list[str]:
    """Names of the buffers registered empty (``None``): a process's own running state, such as
    an LSTM's carried states, set by its forwards. DDP would broadcast rank 0's copy of every
    buffer before each training forward: another rank would continue from rank 0's states, and
    gloo aborts when the ranks' batches differ in size (a shard's partial last batch)."""
    return sorted(
        f"{prefix}{owner}.{name}" if owner else f"{prefix}{name}"
        for owner, module in model.named_modules()
        for name, value in module._buffers.items()
        if value is None
    )


class KnowItModule(pl.LightningModule):
    def __init__(
        self,
        arch_module: str,
        arch_args: dict[str, Any],
        input_dim: list[int],
        output_dim: list[int],
        task: str,
        loss_fn: str,
        performance_metrics: list[Any],
        optim: str = "Adam",
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        optim_kwargs: dict[str, Any] | None = None,
        lr_scheduler: str | None = None,
        lr_scheduler_kwargs: dict[str, Any] | None = None,
        loss_kwargs: dict[str, Any] | None = None,
        class_weights: list[float] | None = None,
        class_names: list[str] | None = None,
        target_scaling: dict[str, list[float]] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.model, self.stateful = build_model(arch_module, arch_args, input_dim, output_dim, task)
        self.task = task
        self.loss = make_loss(loss_fn, loss_kwargs or {}, class_weights)
        n_classes = output_dim[0] if task == "classification" else None
        self.metrics = torch.nn.ModuleDict(
            {_key(stage): EpochMetrics(performance_metrics, task, n_classes, stage, target_scaling) for stage in STAGES}
        )
        # Layers with weight penalties (e.g. ConvLSTM1D's Keras regularisers) add them to the training loss.
        self._regularized = [m for m in self.model.modules() if callable(getattr(m, "regularization_loss", None))]
        self._nonfinite: torch.Tensor | None = None  # accelerator runs: non-finite flag not yet read
        # DDP reads this list when it wraps the module: these buffers are not broadcast from rank 0.
        self._ddp_params_and_buffers_to_ignore = per_process_buffers(self.model, "model.")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOT_ATTRIBUTES:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    @torch.no_grad()
    def check_custom_metrics(self, prepared: Any, rows: int = 16) -> None:
        """Run the metrics that are not built in on the first training points (before training):
        a user's metric that fails on this data fails here, naming its entry."""
        names = self.hparams.performance_metrics
        if all(isinstance(n, str) and n in BUILTIN_METRICS for n in names):
            return
        batch = prepared.batch(torch.as_tensor(prepared.set_points("train")[:rows]))
        was_training = self.training
        output = self.eval().model(batch["x"])
        self.train(was_training)
        self._reset_states()
        n_classes = self.hparams.output_dim[0] if self.task == "classification" else None
        check_on_one_batch(names, self.task, n_classes, output, batch["y"])

    # -- state hooks for stateful architectures ---------------------------------------------
    def _reset_states(self, mask: torch.Tensor | None = None) -> None:
        if self.stateful:
            self.model.reset_states(mask)

    def on_train_epoch_start(self) -> None:
        self._reset_states()

    def on_validation_epoch_start(self) -> None:
        self._reset_states()

    def on_test_epoch_start(self) -> None:
        self._reset_states()

    def on_predict_epoch_start(self) -> None:
        self._reset_states()

    # -- steps --------------------------------------------------------------------------------
    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        if "reset" in batch:
            self._reset_states(batch["reset"])
        output = self.model(batch["x"])
        target = batch["y"]
        loss = self.loss(output, target)
        if stage == "train":
            self._check_finite(loss)
        if stage == "train" and self._regularized:
            loss = loss + sum(m.regularization_loss() for m in self._regularized)
        self.metrics[_key(stage)].update(loss, output, target)
        return loss

    def _check_finite(self, loss: torch.Tensor) -> None:
        """Stop on a non-finite training loss. On CPU every batch is checked; on an accelerator a
        flag collects on the device and is read every ``FINITE_CHECK_EVERY`` batches (and at the
        epoch's end), so the check costs no host-device synchronisation per step."""
        if loss.device.type == "cpu":
            value = loss.item()  # one read, no tensor ops: a CPU step is short
            if not math.isfinite(value):
                self._stop_nonfinite(f"batch {self._batch_idx}", value)
            return
        bad = ~torch.isfinite(loss.detach())
        self._nonfinite = bad if self._nonfinite is None else self._nonfinite | bad
        if (self._batch_idx + 1) % FINITE_CHECK_EVERY == 0:
            self._read_nonfinite_flag()

    def _read_nonfinite_flag(self) -> None:
        flag, self._nonfinite = self._nonfinite, None
        if flag is not None and bool(flag):
            first = max(0, self._batch_idx + 1 - FINITE_CHECK_EVERY)
            self._stop_nonfinite(f"one of batches {first}-{self._batch_idx}", "nan or inf")

    def _stop_nonfinite(self, where: str, value: Any) -> None:
        raise NonFiniteLoss(
            f"trainer: the training loss became {value} at epoch {self.current_epoch}, {where}; "
            "likely causes: a learning rate too high (trainer.learning_rate), unscaled inputs (data.scaling_method), "
            "or NaN/inf values in the data"
        )

    def _log_epoch(self, stage: str) -> None:
        self.log_dict(self.metrics[_key(stage)].compute(), prog_bar=stage != "test", sync_dist=True)
        self.metrics[_key(stage)].reset()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self._batch_idx = batch_idx
        return self._step(batch, "train")

    def on_train_epoch_end(self) -> None:
        self._read_nonfinite_flag()
        self._log_epoch("train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "valid")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("valid")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if "reset" in batch:
            self._reset_states(batch["reset"])
        return self.model(batch["x"])

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if device.type == "cpu":  # knowit's loaders serve CPU tensors: nothing to move, no walk over the batch
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        if gradient_clip_val:  # Lightning's checks and clipping, every step, only when clipping is asked for
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        optimizer = make_optimizer(self.parameters(), hp.optim, hp.learning_rate, hp.weight_decay, hp.optim_kwargs or {})
        if not scheduler_name(hp.get("lr_scheduler")):
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": make_scheduler(optimizer, hp.lr_scheduler, hp.lr_scheduler_kwargs or {})}


# Lightning inspects the step's signature at every batch (does it take batch_idx?); inspect
# answers at once from a function's __signature__ instead of rebuilding it.
for _hook in (KnowItModule.training_step, KnowItModule.validation_step):
    _hook.__signature__ = inspect.signature(_hook)  # type: ignore[attr-defined]

"""``train_model``: seed → data → arch → module and trainer → fit → test → results.

Every check that can fail on bad input runs before the run directory is touched, so a
failed start leaves the experiment directory as it was.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowit.config.run_config import RunConfig
from knowit.config.validate import to_plain
from knowit.errors import KnowItConfigError
from knowit.rundir import RunDir, auto_model_name

log = logging.getLogger("knowit")


@dataclass
class TrainResult:
    run_dir: Path
    best_checkpoint: Path | None
    metrics: dict[str, float] = field(default_factory=dict)
    status: str = "completed"


def check_monitors(cfg: RunConfig, metric_names: list[str]) -> None:
    """A monitored or optimised metric must be one the run will log (checked before training)."""
    logged = {f"{stage}_{m}" for stage in ("train", "valid") for m in ["loss", *metric_names]}
    test_logged = {f"test_{m}" for m in ["loss", *metric_names]}
    checks = [("trainer.checkpoint.monitor", cfg.trainer.checkpoint.monitor, logged)]
    if cfg.trainer.early_stopping.enabled:
        checks.append(("trainer.early_stopping.monitor", cfg.trainer.early_stopping.monitor, logged))
    if cfg.root.optimized_metric:
        checks.append(("optimized_metric", cfg.root.optimized_metric, logged | test_logged))
    for key, name, allowed in checks:
        if name not in allowed:
            raise KnowItConfigError(f"{key}: {name!r} is not logged by this run; choose one of: {', '.join(sorted(allowed))}")


def plan(cfg: RunConfig) -> tuple[str, list[str]]:
    """Cross-group checks that need no data: loss, metrics, optimiser, monitors."""
    from knowit.training.losses import check_loss_name
    from knowit.training.metrics import check_metric_names
    from knowit.training.optimizers import check_optimizer_name

    loss = check_loss_name(cfg.trainer.loss_fn, cfg.data.task)
    metrics = check_metric_names(cfg.trainer.performance_metrics, cfg.data.task)
    check_optimizer_name(cfg.trainer.optim)
    check_monitors(cfg, metrics)
    check_stateful_sampling(cfg)
    return loss, metrics


def check_stateful_sampling(cfg: RunConfig) -> None:
    """A model that carries states between batches needs batches whose rows continue streams."""
    tracking = getattr(getattr(cfg.arch.args, "internal_state", None), "tracking", False)
    if tracking and cfg.data.batch_sampling != "contiguous":
        raise KnowItConfigError(
            "data.batch_sampling: arch.internal_state.tracking=true carries states from one batch to the next, "
            "which needs data.batch_sampling=contiguous (shuffled batches would hand each row another stream's state)"
        )


def train_model(cfg: RunConfig, *, run_path: Path | None = None, and_viz: bool = True, progress_bar: bool | None = None) -> TrainResult:
    import pytorch_lightning as pl

    from knowit.data.datamodule import KnowItDataModule
    from knowit.training.module import KnowItModule
    from knowit.training.trainer import build_trainer

    loss_name, metric_names = plan(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = KnowItDataModule(cfg.data, cfg.exp_dir, cfg.seed)
    module = KnowItModule(
        arch_module=cfg.arch.module,
        arch_args=to_plain(cfg.arch.args),
        input_dim=datamodule.input_dim,
        output_dim=datamodule.output_dim,
        task=cfg.data.task,
        loss_fn=loss_name,
        performance_metrics=metric_names,
        optim=cfg.trainer.optim,
        learning_rate=cfg.trainer.learning_rate,
        weight_decay=cfg.trainer.weight_decay,
        optim_kwargs=cfg.trainer.optim_kwargs,
        loss_kwargs=cfg.trainer.loss_kwargs,
        class_names=datamodule.class_names,
        class_weights=datamodule.class_weights,
    )
    n_parameters = sum(p.numel() for p in module.model.parameters())

    model_name = cfg.root.model_name or auto_model_name(cfg.arch.name, cfg.data.name)
    run = RunDir(run_path) if run_path else RunDir.for_model(cfg.exp_dir, model_name)
    run.claim(overwrite=cfg.root.overwrite)
    try:
        resolved = cfg.to_dict()
        resolved["model_name"] = model_name
        run.write_config(resolved)
        from knowit.atomic_io import write_json

        write_json(run.scalers, datamodule.prepared.scalers_dict())
        summary: dict[str, Any] = {
            "status": "running",
            "model_name": model_name,
            "arch": cfg.arch.name,
            "dataset": cfg.data.name,
            "task": cfg.data.task,
            "n_parameters": n_parameters,
            "data": datamodule.describe(),
        }
        run.write_summary(summary)
        trainer = build_trainer(cfg.trainer, run, progress_bar=progress_bar)
        started = time.perf_counter()
        trainer.fit(module, datamodule=datamodule)
        summary["train_time_s"] = time.perf_counter() - started
        result = _finish(run, trainer, module, datamodule, summary, and_viz)
    finally:
        run.release()
    return result


def _finish(run: RunDir, trainer: Any, module: Any, datamodule: Any, summary: dict[str, Any], and_viz: bool) -> TrainResult:
    from knowit.plots.curves import learning_curves
    from knowit.training.callbacks import read_history

    history = read_history(run.metrics)
    from knowit.training.trainer import model_checkpoint

    ckpt_cb = model_checkpoint(trainer)
    best = Path(ckpt_cb.best_model_path) if ckpt_cb and ckpt_cb.best_model_path else None
    metrics: dict[str, float] = {}
    for set_name, loader in (("valid", datamodule.val_dataloader()), ("test", datamodule.test_dataloader())):
        if len(loader) == 0:
            continue
        method = trainer.validate if set_name == "valid" else trainer.test
        out = method(module, dataloaders=loader, ckpt_path=str(best) if best else None, verbose=False)
        metrics.update({k: float(v) for k, v in out[0].items()})
    finite = all(math.isfinite(v) for v in metrics.values())
    summary.update(
        status="completed" if finite else "failed",
        epochs=len(history),
        best_epoch=_best_epoch(history, ckpt_cb),
        best_checkpoint=str(best.relative_to(run.path)) if best else None,
        metrics=metrics,
        final={k: v for k, v in (history[-1] if history else {}).items() if k != "epoch"},
        epoch_times=[r.get("epoch_time") for r in history],
    )
    run.write_summary(summary)
    if and_viz:
        learning_curves(history, run.visualizations / "learning_curves.png", title=summary["model_name"])
    return TrainResult(run_dir=run.path, best_checkpoint=best, metrics=metrics, status=summary["status"])


def _best_epoch(history: list[dict[str, float]], ckpt_cb: Any) -> int | None:
    if not history or ckpt_cb is None or not ckpt_cb.monitor:
        return None
    values = [(r.get(ckpt_cb.monitor), int(r["epoch"])) for r in history if r.get(ckpt_cb.monitor) is not None]
    if not values:
        return None
    pick = min if ckpt_cb.mode == "min" else max
    return pick(values)[1]

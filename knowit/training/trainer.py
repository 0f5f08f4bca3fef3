"""Build the Lightning ``Trainer`` and its callbacks from the trainer config."""
from __future__ import annotations

import sys

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

from knowit.config.schema import TrainerConfig
from knowit.rundir import RunDir
from knowit.training.callbacks import EpochHistory


def build_trainer(cfg: TrainerConfig, run: RunDir, *, progress_bar: bool | None = None) -> pl.Trainer:
    checkpoint = ModelCheckpoint(
        dirpath=run.checkpoints,
        filename="best-{epoch:03d}",
        monitor=cfg.checkpoint.monitor,
        mode=cfg.checkpoint.mode,
        save_top_k=cfg.checkpoint.save_top_k,
        save_last=cfg.checkpoint.save_last,
        auto_insert_metric_name=False,
    )
    callbacks: list[pl.Callback] = [checkpoint, EpochHistory(run.metrics)]
    es = cfg.early_stopping
    if es.enabled:
        callbacks.append(EarlyStopping(monitor=es.monitor, patience=es.patience, mode=es.mode, min_delta=es.min_delta))
    if progress_bar is None:
        progress_bar = cfg.progress_bar if cfg.progress_bar is not None else sys.stderr.isatty()
    # Pass limits only when set: Lightning announces every explicit limit, even 100%.
    limits = {
        f"limit_{k}_batches": v
        for k, v in (("train", cfg.limit_train_batches), ("val", cfg.limit_val_batches), ("test", cfg.limit_test_batches))
        if v != 1.0
    }
    quiet_lightning()
    return pl.Trainer(
        default_root_dir=run.path,
        max_epochs=cfg.max_epochs,
        max_time=cfg.max_time,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        num_nodes=cfg.num_nodes,
        precision=cfg.precision,
        gradient_clip_val=cfg.gradient_clip_val,
        accumulate_grad_batches=cfg.accumulate_grad_batches,
        **limits,
        deterministic=cfg.deterministic,
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def quiet_lightning() -> None:
    """Keep Lightning's start-up chatter (GPU/TPU availability, tips) out of the user's way."""
    import logging
    import warnings

    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def model_checkpoint(trainer: pl.Trainer) -> ModelCheckpoint | None:
    return next((cb for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint)), None)

"""Build the Lightning ``Trainer`` and its callbacks from the trainer config."""
from __future__ import annotations

import contextlib
import os
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.profilers import PassThroughProfiler

from knowit.atomic_io import write_atomic
from knowit.config.schema import TrainerConfig
from knowit.errors import KnowItConfigError
from knowit.rundir import RunDir
from knowit.training.callbacks import EpochCallbacks, EpochHistory, LastCheckpoint
from knowit.training.progress import EpochLines, shows_bar

# Set by rank 0 for the DDP worker processes it starts (they inherit its environment).
DDP_RUN_DIR_ENV = "KNOWIT_DDP_RUN_DIR"


def is_ddp_child() -> str | None:
    """The run directory if this process is a DDP worker of another knowit process."""
    rank = next((os.environ[k] for k in ("RANK", "LOCAL_RANK", "SLURM_PROCID") if os.environ.get(k)), "0")
    return os.environ.get(DDP_RUN_DIR_ENV) if rank != "0" else None


class EpochSeed(pl.Callback):
    """Reseed every RNG at each epoch start from (seed, epoch): dropout and shuffling then depend
    only on the epoch, so a run resumed at an epoch boundary continues as if never stopped."""

    def __init__(self, seed: int):
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl.seed_everything(self.seed * 1_000_003 % 2**31 + trainer.current_epoch + trainer.global_rank * 7919, verbose=False)


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint with its state key built once: Lightning reads the key at every
    hook it dispatches (~10 a training step) and ModelCheckpoint formats it anew each time. The key
    is Lightning's own (same class name), so checkpoints of either kind restore into the other."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._state_key = super().state_key

    @property
    def state_key(self) -> str:
        return self._state_key


RunCheckpoint.__qualname__ = ModelCheckpoint.__qualname__


class NoProfiler(PassThroughProfiler):
    """Lightning's default profiler, minus its cost: Lightning enters ``profiler.profile(...)``
    around every hook it calls (about 50 per training step) and the default builds a generator
    context each time; one shared null context does the same nothing for free."""

    _null = contextlib.nullcontext()

    def profile(self, action_name: str) -> contextlib.nullcontext:  # type: ignore[override]
        return self._null


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints are written beside their target and renamed: a kill never leaves half a file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        write_atomic(path, lambda tmp: super(AtomicCheckpointIO, self).save_checkpoint(checkpoint, tmp, storage_options))


def build_loggers(names: list[str], run: RunDir) -> list[Any]:
    """Extra experiment loggers, every one writing inside the run directory; ``metrics.csv``
    (EpochHistory) is always written, so ``csv`` adds nothing."""
    loggers: list[Any] = []
    for i, name in enumerate(names):
        key = f"trainer.logger[{i}]"
        if name == "csv":
            continue
        _require(name, key, name)
        if name == "tensorboard":
            from pytorch_lightning.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(save_dir=str(run.path), name="tensorboard", version=""))
        elif name == "mlflow":
            from pytorch_lightning.loggers import MLFlowLogger

            # A SQLite store in the run folder: MLflow 3 keeps its file store (./mlruns) in
            # maintenance mode and refuses it; artifacts stay in the run folder too.
            loggers.append(MLFlowLogger(
                experiment_name="knowit", run_name=run.path.name,
                tracking_uri=f"sqlite:///{(run.path / 'mlflow.db').resolve()}",
                artifact_location=(run.path / "mlartifacts").resolve().as_uri(),
            ))
        elif name == "wandb":
            import wandb
            from pytorch_lightning.loggers import WandbLogger

            # Offline: no account, no network; `wandb sync <run>/wandb/offline-run-*` uploads later.
            loggers.append(WandbLogger(
                name=run.path.name, project="knowit", save_dir=str(run.path), offline=True,
                settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
            ))
    return loggers


class FinishLoggers(pl.Callback):
    """Close each logger's run when fitting ends (W&B keeps its run open otherwise, and the next
    run in the same process would write into it)."""

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for logger in trainer.loggers:
            if type(logger).__name__ == "WandbLogger" and logger._experiment is not None:
                logger._experiment.finish()


def check_loggers(names: list[str]) -> None:
    """The packages of the chosen loggers are installed (names are checked by the schema)."""
    for i, name in enumerate(names):
        if name != "csv":
            _require(name, f"trainer.logger[{i}]", name)


def _require(module: str, key: str, extra: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise KnowItConfigError(f"{key}: the {module} logger needs the {module} package; install it with: pip install 'knowit[{extra}]'")


def build_trainer(cfg: TrainerConfig, run: RunDir, *, seed: int = 0, progress_bar: bool | None = None,
                  epoch_lines: bool = True, main_metric: str | None = None) -> pl.Trainer:
    """``progress_bar`` (else ``trainer.progress_bar``): the bar, or with ``False``/no terminal one
    line per epoch naming ``valid_<main_metric>`` (unless ``epoch_lines=False``: a sweep job, whose
    sweep prints a line when it finishes)."""
    checkpoint = RunCheckpoint(
        dirpath=run.checkpoints,
        filename="best-{epoch:03d}",
        monitor=cfg.checkpoint.monitor,
        mode=cfg.checkpoint.mode,
        save_top_k=cfg.checkpoint.save_top_k,
        save_last=False,  # LastCheckpoint below: every epoch, not only when a best one is saved
        auto_insert_metric_name=False,
    )
    history = EpochHistory(run.metrics)
    parts: list[pl.Callback] = [EpochSeed(seed), history]
    bar = shows_bar(cfg.progress_bar if progress_bar is None else progress_bar)
    if not bar and epoch_lines:
        parts.append(EpochLines(history, main_metric))
    if cfg.checkpoint.save_last:
        parts.append(LastCheckpoint(run.last_checkpoint))
    loggers = build_loggers(cfg.logger, run)
    callbacks: list[pl.Callback] = [checkpoint]
    if loggers:
        parts.append(FinishLoggers())
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    callbacks.append(EpochCallbacks(parts))
    es = cfg.early_stopping
    if es.enabled:
        callbacks.append(EarlyStopping(monitor=es.monitor, patience=es.patience, mode=es.mode, min_delta=es.min_delta))
    # Pass limits only when set: Lightning announces every explicit limit, even 100%.
    limits = {
        f"limit_{k}_batches": v
        for k, v in (("train", cfg.limit_train_batches), ("val", cfg.limit_val_batches), ("test", cfg.limit_test_batches))
        if not is_whole_set(v)
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
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],
        profiler=NoProfiler(),
        use_distributed_sampler=False,  # knowit's batch samplers shard themselves (see data.sampling)
        enable_progress_bar=bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def quiet_lightning() -> None:
    """Keep Lightning's start-up chatter (GPU/TPU availability, tips) out of the user's way."""
    import logging
    import warnings

    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero", "lightning_fabric.utilities.rank_zero",
                 "lightning_fabric.utilities.distributed", "lightning.fabric.utilities.distributed"):  # "Initializing distributed" per rank
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")  # resuming into the run's own folder
    warnings.filterwarnings("ignore", message=".*overridden `transfer_batch_to_device`.*")  # KnowItModule's: CPU batches stay put


def eval_trainer(accelerator: str = "cpu", *, limit_val_batches: int | float = 1.0, limit_test_batches: int | float = 1.0) -> pl.Trainer:
    """A single-process Trainer for evaluating a trained module (after training, also after DDP).
    The run's ``limit_*_batches`` apply to its final evaluation too."""
    quiet_lightning()
    return pl.Trainer(
        accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False, profiler=NoProfiler(),
        enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=limit_val_batches, limit_test_batches=limit_test_batches,
    )


def is_whole_set(limit: int | float) -> bool:
    """Whether a ``limit_*_batches`` value means every batch: the fraction 1.0, not the count 1
    (``1 == 1.0`` in Python, and one batch would silently become the whole set)."""
    return isinstance(limit, float) and limit == 1.0


def limited_batches(limit: int | float, n_batches: int) -> int:
    """How many of ``n_batches`` a Lightning ``limit_*_batches`` value lets run."""
    if isinstance(limit, float) and limit <= 1.0:  # a fraction, as Lightning reads floats
        return int(n_batches * limit)
    return min(int(limit), n_batches)


def model_checkpoint(trainer: pl.Trainer) -> ModelCheckpoint | None:
    return next((cb for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint)), None)

"""Callbacks that write the per-epoch history (``metrics.csv``) of a run."""
from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint

from knowit.atomic_io import write_text


class EpochCallbacks(Checkpoint):
    """knowit's own callbacks, which act once an epoch, behind one Lightning callback.

    Lightning dispatches about six hooks per training step to every callback (a lookup, a
    profiler context and a call each, ~10 us), whether it overrides them or not; one callback
    instead of five takes most of that off a small model's step. The parts' hooks run in list
    order. A ``Checkpoint`` subclass only for Lightning's hook order: monitoring callbacks run
    last, so at epoch end the module has logged the epoch's train metrics (``EpochHistory``).
    """

    def __init__(self, parts: list[pl.Callback]):
        self.parts = parts

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for part in self.parts:
            part.on_train_epoch_start(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for part in self.parts:
            part.on_train_epoch_end(trainer, pl_module)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for part in self.parts:
            part.teardown(trainer, pl_module, stage)


class EpochHistory(pl.Callback):
    """One row per epoch: losses, metrics, epoch time, learning rate; rewritten atomically.
    Runs inside ``EpochCallbacks`` (after the module has logged the epoch's train metrics)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        self._start = 0.0
        self._resumed: int | None = None
        self._lr: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._resumed is None:
            # On resume, keep the rows of the epochs already done (the file, not the checkpoint,
            # holds them). The loop's epoch is restored only now, not yet at fit start.
            self._resumed = trainer.current_epoch
            self.rows = [r for r in read_history(self.path) if r["epoch"] < trainer.current_epoch]
        self._start = time.perf_counter()
        # The rate the epoch trains with (epoch-level schedulers step at its end).
        self._lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row: dict[str, Any] = {"epoch": trainer.current_epoch, "epoch_time": time.perf_counter() - self._start}
        if self._lr is not None:
            row["lr"] = self._lr
        for key, value in sorted(trainer.callback_metrics.items()):
            if key.startswith(("train_", "valid_")):
                row[key] = float(value)
        for logger in trainer.loggers:  # TensorBoard/MLflow get the epoch time too (lr: LearningRateMonitor)
            logger.log_metrics({"epoch_time": row["epoch_time"]}, step=trainer.global_step)
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        if trainer.is_global_zero:
            write_text(self.path, history_csv(self.rows))



class LastCheckpoint(pl.Callback):
    """``last.ckpt`` after every epoch, after its history row (resume continues from here).

    Lightning's own ``save_last`` only refreshes it on epochs that also save a top-k checkpoint.
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            trainer.save_checkpoint(self.path, weights_only=False)  # a full checkpoint: resume needs the optimiser


def history_csv(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def read_history(path: Path) -> list[dict[str, float]]:
    if not Path(path).is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [{k: (float(v) if v not in ("", None) else math.nan) for k, v in row.items()} for row in csv.DictReader(fh)]
    for row in rows:
        row["epoch"] = int(row["epoch"])
    return rows

"""What training shows while it runs: Lightning's bar on a terminal or in a notebook, one line per
epoch everywhere else (a log file, CI, a job scheduler), where a bar draws nothing useful, and
in between a line a minute on how far a long epoch is."""
from __future__ import annotations

import sys
import threading
import time
from typing import Any

import pytorch_lightning as pl

from knowit.config.schema import loss_name


def in_notebook() -> bool:
    """A Jupyter kernel: its stdout is no terminal, but it draws Lightning's bar well."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def shows_bar(progress_bar: bool | None) -> bool:
    """``True``: the bar; ``False``: epoch lines; ``None``: the bar where one can be drawn."""
    if progress_bar is not None:
        return bool(progress_bar)
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty()) or in_notebook()


def format_duration(seconds: float) -> str:
    """``1:27`` or ``2:03:05``: minutes and seconds, hours when there are any."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def epoch_line(row: dict[str, Any], max_epochs: int, main_metric: str | None, eta_s: float | None) -> str:
    """``epoch 3/10  train_loss 0.412  valid_loss 0.398  valid_mae 0.51  12.4 s  eta 1:27``
    (epochs counted from 1, as a user counts them)."""
    parts = [f"epoch {int(row['epoch']) + 1}/{max_epochs}"]
    keys = [loss_name(stage, scaled) for stage in ("train", "valid") for scaled in (False, True)]
    keys += [f"valid_{main_metric}"] if main_metric else []
    parts += [f"{k} {row[k]:.4g}" for k in keys if k in row]
    parts.append(f"{row['epoch_time']:.1f} s")
    if eta_s is not None:
        parts.append(f"eta {format_duration(eta_s)}")
    return "  ".join(parts)


# Seconds between the lines a running epoch prints into a log: often enough that a job's log
# shows it is alive, rare enough that a short epoch prints none.
IN_EPOCH_INTERVAL_S = 60.0


def batch_line(trainer: pl.Trainer, elapsed_s: float) -> str | None:
    """``epoch 2/10  batch 1200/43750  58.1 batches/s  0:20  eta 12:13 in this epoch`` while the
    epoch trains, ``epoch 2/10  validating 30/400  1:02`` while it validates."""
    head = f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"
    loop = trainer.fit_loop.epoch_loop
    done, total = loop.batch_progress.current.completed, trainer.num_training_batches
    if trainer.validating or (done >= total and trainer.num_val_batches):
        checked = loop.val_loop.batch_progress.current.completed
        return f"{head}  validating {checked}/{sum(trainer.num_val_batches)}  {format_duration(elapsed_s)}"
    if not done:
        return None
    rate = done / max(elapsed_s, 1e-9)
    eta = f"  eta {format_duration((total - done) / rate)} in this epoch" if total != float("inf") else ""
    return f"{head}  batch {done}/{total}  {rate:.1f} batches/s  {format_duration(elapsed_s)}{eta}"


class EpochLines(pl.Callback):
    """Prints ``epoch_line`` for the row the run's ``EpochHistory`` just recorded (listed after
    it in ``EpochCallbacks``), and ``batch_line`` every ``interval_s`` while an epoch runs. The
    latter comes from a timer thread that only reads the loop's counters: a step pays nothing."""

    def __init__(self, history: Any, main_metric: str | None, interval_s: float = IN_EPOCH_INTERVAL_S):
        self.history, self.main_metric, self.interval_s = history, main_metric, interval_s
        self._times: list[float] = []
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        self._stop_ticker()
        self._stop = threading.Event()
        started = time.monotonic()

        def tick(stop: threading.Event = self._stop) -> None:
            while not stop.wait(self.interval_s):
                line = batch_line(trainer, time.monotonic() - started)
                if line and not stop.is_set():
                    print(line, flush=True)

        self._ticker = threading.Thread(target=tick, name="knowit-epoch-lines", daemon=True)
        self._ticker.start()

    def ticking(self) -> bool:
        return self._ticker is not None and self._ticker.is_alive()

    def _stop_ticker(self) -> None:
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join()
            self._ticker = None

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._stop_ticker()  # an epoch that ended in an error or Ctrl-C

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop_ticker()
        if trainer.sanity_checking or not trainer.is_global_zero or not self.history.rows:
            return
        row = self.history.rows[-1]
        self._times.append(row["epoch_time"])  # epochs of this process only: a resumed run's old ones ran elsewhere
        left = trainer.max_epochs - int(row["epoch"]) - 1 if trainer.max_epochs and trainer.max_epochs > 0 else None
        eta = sum(self._times) / len(self._times) * left if left is not None else None
        print(epoch_line(row, trainer.max_epochs, self.main_metric, eta), flush=True)

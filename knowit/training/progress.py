"""What training shows while it runs: Lightning's bar on a terminal or in a notebook, one line per
epoch everywhere else (a log file, CI, a job scheduler), where a bar draws nothing useful."""
from __future__ import annotations

import sys
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


class EpochLines(pl.Callback):
    """Prints ``epoch_line`` for the row the run's ``EpochHistory`` just recorded (listed after
    it in ``EpochCallbacks``)."""

    def __init__(self, history: Any, main_metric: str | None):
        self.history, self.main_metric = history, main_metric
        self._times: list[float] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or not self.history.rows:
            return
        row = self.history.rows[-1]
        self._times.append(row["epoch_time"])  # epochs of this process only: a resumed run's old ones ran elsewhere
        left = trainer.max_epochs - int(row["epoch"]) - 1 if trainer.max_epochs and trainer.max_epochs > 0 else None
        eta = sum(self._times) / len(self._times) * left if left is not None else None
        print(epoch_line(row, trainer.max_epochs, self.main_metric, eta), flush=True)

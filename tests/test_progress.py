"""What training shows while it runs: a bar on a terminal, one line per epoch when output is a log."""
from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from conftest import TINY_ARCH, TINY_TRAINER, run_cli
from knowit.training.progress import epoch_line, format_duration, in_notebook, shows_bar

EPOCH_LINE = re.compile(r"^epoch (\d+)/3  train_loss_scaled \S+  valid_loss_scaled \S+  valid_mae \S+  \d+\.\d s  eta \d+:\d\d$")


def test_piped_cli_training_prints_one_line_per_epoch(tmp_path: Path, exp_dir: Path) -> None:
    out = run_cli(["train", f"arch.name={TINY_ARCH}", "model_name=piped", "trainer.max_epochs=3",
                   "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1"],
                  cwd=tmp_path, exp_dir=exp_dir)  # stdout is a pipe, as in a log file or CI
    assert out.returncode == 0, out.stderr
    lines = [m for m in map(EPOCH_LINE.match, out.stdout.splitlines()) if m]
    assert [int(m.group(1)) for m in lines] == [1, 2, 3], out.stdout
    assert lines[-1].group(0).endswith("eta 0:00")  # nothing left after the last epoch
    assert "\r" not in out.stdout + out.stderr and "it/s" not in out.stdout + out.stderr  # no bar drawn into a log


def test_epoch_line_names_losses_main_metric_time_and_eta() -> None:
    row = {"epoch": 2, "epoch_time": 12.44, "train_loss": 0.41234, "valid_loss": 0.3981, "valid_mae": 0.5, "lr": 0.001}
    assert epoch_line(row, 10, "mae", 87.2) == "epoch 3/10  train_loss 0.4123  valid_loss 0.3981  valid_mae 0.5  12.4 s  eta 1:27"
    # no validation set: the valid keys are left out, not shown as nan
    assert epoch_line({"epoch": 0, "epoch_time": 1.0, "train_loss": 1.0}, 1, "accuracy", 0.0) == "epoch 1/1  train_loss 1  1.0 s  eta 0:00"


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 59.6, 87, 3600, 7325)] == ["0:00", "1:00", "1:27", "1:00:00", "2:02:05"]


def test_the_bar_is_chosen_for_a_terminal_or_a_notebook_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert shows_bar(True) is True and shows_bar(False) is False
    assert shows_bar(None) is False  # pytest captures stdout: not a terminal
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert shows_bar(None) is True
    monkeypatch.undo()
    # A Jupyter kernel: IPython's shell class is ZMQInteractiveShell and stdout is no terminal.
    shell = type("ZMQInteractiveShell", (), {})()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert in_notebook() and shows_bar(None) is True
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert not in_notebook() and shows_bar(None) is False


def test_api_training_and_sweep_report_by_default(ki, capsys: pytest.CaptureFixture[str]) -> None:
    kwargs = {"arch": {"name": TINY_ARCH}, "trainer": {**TINY_TRAINER, "max_epochs": 2}}
    ki.train_model("lines", kwargs)  # progress_bar=None: no terminal here, so lines
    out = capsys.readouterr().out
    assert [line.split("  ")[0] for line in out.splitlines() if line.startswith("epoch ")] == ["epoch 1/2", "epoch 2/2"]
    summary = ki.sweep("sw", kwargs, grid={"arch.hidden": [4, 8]})
    assert re.fullmatch(r"SweepSummary\(2 jobs, 2 completed, sorted by valid_loss_scaled \(minimize\), best job [01] \(valid_loss_scaled=\S+\), "
                        r"sweep_dir='.*sw'\)", repr(summary)), repr(summary)
    out = capsys.readouterr().out.splitlines()
    jobs = [line for line in out if line.startswith("sweep job")]
    assert len(jobs) == 2 and not any(line.startswith("epoch ") for line in out), out  # one line per job, not per epoch
    assert re.match(r"^sweep job 1/2  arch\.hidden=4  completed  valid_loss_scaled \S+  \d+\.\d s$", jobs[0]), jobs[0]
    assert jobs[1].startswith("sweep job 2/2  arch.hidden=8  completed")


def test_a_long_epoch_in_a_log_reports_its_batches_while_it_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """Piped to a log, an epoch of an hour printed nothing until it ended (issue 25's users read
    SLURM logs): a line every ``interval_s`` says how far the epoch is and when it will end. It
    comes from a timer thread, so a training step pays nothing for it."""
    import time

    import pytorch_lightning as pl
    import torch

    from knowit.training.progress import EpochLines

    class Slow(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, _):
            time.sleep(0.02)
            return self.layer(batch[0]).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    history = types.SimpleNamespace(rows=[])
    lines = EpochLines(history, None, interval_s=0.1)

    class Row(pl.Callback):  # what EpochHistory records, before EpochLines prints it
        def on_train_epoch_end(self, trainer, module):
            history.rows.append({"epoch": trainer.current_epoch, "epoch_time": 1.0, "train_loss": 0.5})

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(40, 2)), batch_size=1)
    trainer = pl.Trainer(max_epochs=2, callbacks=[Row(), lines], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(Slow(), loader)
    out = capsys.readouterr().out.splitlines()
    ticks = [line for line in out if re.fullmatch(r"epoch [12]/2  batch \d+/40  \d+\.\d batches/s  \d+:\d\d  eta \d+:\d\d in this epoch", line)]
    assert len(ticks) >= 4, out  # ~0.8 s an epoch, a line every 0.1 s
    done = [int(re.search(r"batch (\d+)/", line).group(1)) for line in ticks if line.startswith("epoch 1/2")]
    assert done == sorted(done) and 0 < done[0] and done[-1] <= 40
    ends = [i for i, line in enumerate(out) if re.match(r"epoch \d/2  train_loss", line)]
    assert len(ends) == 2 and ends[1] == len(out) - 1, out  # the epoch lines as before, the last line last
    assert not any(line.startswith("epoch 1/2  batch") for line in out[ends[0]:]), out  # no tick after its epoch ended
    assert not lines.ticking()  # the timer stops with the epoch: nothing prints after the run

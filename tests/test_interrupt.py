"""Ctrl-C: one line saying where the run stopped and how to resume, exit code 130, the run marked
``interrupted`` with its best checkpoint recorded, and resumable."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from knowit.training.callbacks import read_history

from conftest import TESTS_DIR, TINY_ARCH


def test_ctrl_c_is_one_line_exit_130_recorded_and_resumable(cli_main, tmp_path: Path, exp_dir: Path) -> None:
    args = ["train", f"arch.name={TINY_ARCH}", "model_name=stopped", "trainer.max_epochs=500", "trainer.limit_train_batches=4",
            "trainer.limit_val_batches=1", "trainer.limit_test_batches=1", "trainer.accelerator=cpu"]
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR), "KNOWIT_EXP_DIR": str(exp_dir)}
    env.pop("HYDRA_FULL_ERROR", None)
    # What the child inherits, for the failure message: an ignored or blocked SIGINT survives exec.
    inherited = f"parent SIGINT handler {signal.getsignal(signal.SIGINT)!r}, blocked {sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))}"
    started = time.monotonic()
    # The child gets Ctrl-C as from a terminal even when this test runs where SIGINT is ignored
    # (a background job without job control, nohup): an ignored SIGINT survives exec, a handled one
    # resets to the default, and Python then installs its KeyboardInterrupt handler.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "knowit", *args], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    run = exp_dir / "models" / "stopped"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(read_history(run / "metrics.csv")) < 2 and proc.poll() is None:
        time.sleep(0.05)
    sent_at, rows_then = time.monotonic() - started, len(read_history(run / "metrics.csv"))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (f"exit {proc.returncode} {time.monotonic() - started:.1f} s after start; SIGINT sent at "
                                    f"{sent_at:.1f} s with {rows_then} history rows; {inherited}\n{err[-3000:]}\n{out[-1500:]}")
    ours = [line for line in err.splitlines() if line.startswith("knowit:")]
    assert len(ours) == 1 and "Traceback" not in err, err[-3000:]
    assert ours[0].startswith("knowit: trainer: interrupted at epoch ") and ours[0].endswith(f"resume with: python -m knowit train trainer.resume={run}")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["error"] == ours[0].removeprefix("knowit: ")
    assert summary["best_checkpoint"] and (run / summary["best_checkpoint"]).is_file()
    assert summary["last_checkpoint"] == "checkpoints/last.ckpt" and not (run / ".lock").exists()
    done = summary["epochs"]
    resumed = cli_main(  # the resume in this process; the interrupted run was a real one
        [*args[:3], f"trainer.max_epochs={done + 1}", *args[4:], "trainer.resume=stopped"], cwd=tmp_path, exp_dir=exp_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = json.loads((run / "summary.json").read_text())
    assert after["status"] == "completed" and after["epochs"] == done + 1


def test_a_ctrl_c_during_a_checkpoint_save_records_the_best_checkpoint_left_on_disk(tmp_path: Path) -> None:
    """Lightning names a new best checkpoint before writing it (and deletes the previous one after):
    a Ctrl-C in between must still record the best checkpoint that is on disk."""
    import pytorch_lightning as pl

    from knowit.errors import KnowItInterrupted
    from knowit.orchestrator import _record_failure, _Writer
    from knowit.rundir import RunDir

    run = RunDir(tmp_path / "run")
    run.checkpoints.mkdir(parents=True)
    (run.checkpoints / "best-000.ckpt").write_bytes(b"the previous best, still on disk")
    checkpoint = pl.callbacks.ModelCheckpoint(dirpath=run.checkpoints, monitor="valid_loss")
    checkpoint.best_model_path = str(run.checkpoints / "best-001.ckpt")  # named, not written yet
    trainer = pl.Trainer(callbacks=[checkpoint], logger=False, enable_progress_bar=False, enable_model_summary=False)
    summary: dict = {"status": "running"}
    _record_failure(_Writer(run, enabled=True), run, summary, KnowItInterrupted("trainer: interrupted at epoch 1"), trainer)
    assert summary["status"] == "interrupted" and summary["best_checkpoint"] == "checkpoints/best-000.ckpt"
    assert json.loads(run.summary.read_text())["best_checkpoint"] == "checkpoints/best-000.ckpt"

"""The training engine: optimisers, schedulers, losses, whole-epoch metrics, stopping, checkpoints,
loggers, the NaN guard, resume (API and a SIGKILLed CLI run) and DDP on CPU."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from knowit import KnowItRunError
from knowit.training.callbacks import read_history
from tests.conftest import TESTS_DIR, TINY_ARCH, TINY_TRAINER, run_cli

LINEAR = {"name": TINY_ARCH}
FULL_EVAL = {**TINY_TRAINER, "limit_val_batches": 1.0, "limit_test_batches": 1.0}


def _ckpt(run_dir: Path, name: str = "last.ckpt") -> dict:
    return torch.load(run_dir / "checkpoints" / name, weights_only=True)


def _saved_epoch(run_dir: Path) -> int:
    """The epoch of the run's last.ckpt; -1 while there is none or it is being written."""
    try:
        return int(_ckpt(run_dir)["epoch"])
    except (OSError, RuntimeError, KeyError, EOFError, ValueError):
        return -1


def test_step_lr_halves_the_logged_learning_rate_every_epoch(ki):
    trainer = {**TINY_TRAINER, "max_epochs": 3, "learning_rate": 0.01, "lr_scheduler": "StepLR", "lr_scheduler_kwargs": {"step_size": 1, "gamma": 0.5}}
    result = ki.train_model("steplr", {"arch": LINEAR, "trainer": trainer})
    lrs = [r["lr"] for r in read_history(result.run_dir / "metrics.csv")]
    assert lrs == pytest.approx([0.01, 0.005, 0.0025])


def test_plateau_and_multistep_schedulers(ki):
    plateau = {**TINY_TRAINER, "max_epochs": 3, "learning_rate": 0.01, "lr_scheduler": "ReduceLROnPlateau",
               "lr_scheduler_kwargs": {"monitor": "valid_loss", "patience": 0, "factor": 0.1, "threshold": 1e9}}
    result = ki.train_model("plateau", {"arch": LINEAR, "trainer": plateau})
    # threshold 1e9: no epoch counts as an improvement, so the rate drops after every epoch
    assert [r["lr"] for r in read_history(result.run_dir / "metrics.csv")] == pytest.approx([0.01, 0.001, 0.0001])
    multi = {**TINY_TRAINER, "max_epochs": 3, "learning_rate": 0.01, "lr_scheduler": "MultiStepLR", "lr_scheduler_kwargs": {"milestones": [2], "gamma": 0.1}}
    result = ki.train_model("multi", {"arch": LINEAR, "trainer": multi})
    assert [r["lr"] for r in read_history(result.run_dir / "metrics.csv")] == pytest.approx([0.01, 0.01, 0.001])


@pytest.mark.parametrize("optim, kwargs, check", [
    ("SGD", {"momentum": 0.9, "nesterov": True}, {"momentum": 0.9, "nesterov": True, "fused": None}),
    ("adamw", {"betas": [0.8, 0.9]}, {"betas": [0.8, 0.9], "fused": True}),  # Adam(W): fused unless chosen
    ("Adam", {"fused": False}, {"fused": False}),
    ("Adam", {"foreach": True}, {"foreach": True, "fused": None}),
    ("RMSprop", {"alpha": 0.9}, {"alpha": 0.9}),
    ("Adagrad", {"lr_decay": 0.01}, {"lr_decay": 0.01}),  # any torch.optim class by name
])
def test_optimisers_by_name_with_kwargs(ki, optim, kwargs, check):
    trainer = {**TINY_TRAINER, "optim": optim, "optim_kwargs": kwargs, "weight_decay": 0.01}
    result = ki.train_model(f"opt_{optim}", {"arch": LINEAR, "trainer": trainer})
    group = _ckpt(result.run_dir)["optimizer_states"][0]["param_groups"][0]
    for key, value in {**check, "weight_decay": 0.01}.items():
        assert (list(group[key]) if isinstance(value, list) else group[key]) == value


def test_adam_keeps_torch_s_loop_for_parameters_its_fused_kernel_cannot_step() -> None:
    """torch builds a fused Adam over complex parameters and fails at its first step; knowit
    gives such parameters (and param groups, read once) the default implementation."""
    from knowit.training.optimizers import make_optimizer

    spectral = torch.nn.Parameter(torch.zeros(3, dtype=torch.complex64))
    opt = make_optimizer([spectral], "Adam", 0.1, 0.0, {})
    assert opt.param_groups[0]["fused"] is None
    spectral.grad = torch.ones(3, dtype=torch.complex64)
    opt.step()
    assert spectral.real.tolist() == pytest.approx([-0.1] * 3, rel=1e-3)
    real = torch.nn.Parameter(torch.zeros(2))
    groups = make_optimizer([{"params": iter([real]), "lr": 0.5}], "AdamW", 0.1, 0.0, {})
    assert groups.param_groups[0]["fused"] is True and groups.param_groups[0]["params"][0] is real


def test_l1_loss_is_the_whole_epoch_mae(ki):
    result = ki.train_model("l1", {"arch": LINEAR, "trainer": {**FULL_EVAL, "loss_fn": "l1_loss"}})
    scale = json.loads((result.run_dir / "scalers.json").read_text())["outputs"]["scale"][0]
    # the loss is the mae of the scaled targets, the metric the mae in original units
    assert result.metrics["test_loss_scaled"] * scale == pytest.approx(result.metrics["test_mae"], rel=1e-5)
    for loss in ("huber_loss", "smooth_l1_loss"):
        other = ki.train_model(loss, {"arch": LINEAR, "trainer": {**TINY_TRAINER, "loss_fn": loss, "loss_kwargs": {"beta" if loss == "smooth_l1_loss" else "delta": 0.5}}})
        assert math.isfinite(other.metrics["test_loss_scaled"])


def test_regression_metrics_are_computed_over_the_whole_set(ki):
    trainer = {**FULL_EVAL, "performance_metrics": ["r2", "mse", "rmse", "mae", "mape"]}
    data = {"batch_size": 7}  # uneven batches: a per-batch average would differ
    result = ki.train_model("reg", {"arch": LINEAR, "data": data, "trainer": trainer})
    frame = ki.generate_predictions("reg", {"predictor": {"prediction_set": "test"}})  # original units, as the metrics
    err = frame["prediction"] - frame["target"]
    m = result.metrics
    assert m["test_mse"] == pytest.approx(np.mean(err**2), rel=1e-4)
    assert m["test_rmse"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-4)
    assert m["test_mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-4)
    assert m["test_mape"] == pytest.approx(np.mean(np.abs(err) / np.maximum(np.abs(frame["target"]), 1.17e-6)), rel=1e-3)
    r2 = 1 - np.sum(err**2) / np.sum((frame["target"] - frame["target"].mean()) ** 2)
    assert m["test_r2"] == pytest.approx(r2, rel=1e-4, abs=1e-5)
    scale = json.loads((result.run_dir / "scalers.json").read_text())["outputs"]["scale"][0]
    assert m["test_loss_scaled"] * scale**2 == pytest.approx(m["test_mse"], rel=1e-4)  # the loss stays in scaled units


def test_classification_metrics_macro_over_the_whole_set(ki):
    trainer = {**FULL_EVAL, "performance_metrics": ["accuracy", "f1", "precision", "recall", "auroc"]}
    result = ki.train_model("cls", {"data": {"name": "synth_classification", "batch_size": 7}, "arch": LINEAR, "trainer": trainer})
    frame = ki.generate_predictions("cls", {"predictor": {"prediction_set": "test"}})
    classes = sorted(set(frame["target"]) | {c[len("prob_"):] for c in frame.columns if c.startswith("prob_")})
    precision, recall, f1 = [], [], []
    for c in classes:
        tp = np.sum((frame["prediction"] == c) & (frame["target"] == c))
        p = tp / max(1, np.sum(frame["prediction"] == c))
        r = tp / max(1, np.sum(frame["target"] == c))
        precision.append(p), recall.append(r), f1.append(0 if p + r == 0 else 2 * p * r / (p + r))
    m = result.metrics
    assert m["test_accuracy"] == pytest.approx(np.mean(frame["prediction"] == frame["target"]), abs=1e-6)
    assert m["test_precision"] == pytest.approx(np.mean(precision), abs=1e-5)
    assert m["test_recall"] == pytest.approx(np.mean(recall), abs=1e-5)
    assert m["test_f1"] == pytest.approx(np.mean(f1), abs=1e-5)
    assert 0.0 <= m["test_auroc"] <= 1.0


def test_early_stopping_checkpoints_and_accumulation(ki):
    trainer = {
        **TINY_TRAINER, "max_epochs": 6, "accumulate_grad_batches": 2,
        "early_stopping": {"enabled": True, "monitor": "valid_loss", "patience": 1, "min_delta": 1e9},
        "checkpoint": {"monitor": "valid_loss", "mode": "min", "save_top_k": 2, "save_last": False},
    }
    result = ki.train_model("es", {"arch": LINEAR, "trainer": trainer})
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["epochs"] == 2  # min_delta 1e9: epoch 1 is no improvement, patience 1 stops there
    ckpts = sorted(p.name for p in (result.run_dir / "checkpoints").iterdir())
    assert ckpts == ["best-000.ckpt", "best-001.ckpt"]  # top 2, no last.ckpt
    assert _ckpt(result.run_dir, "best-001.ckpt")["global_step"] == 4  # 2 epochs x 4 batches / accumulate 2


def test_gradient_clipping_reaches_the_optimizer(ki):
    base = {**TINY_TRAINER, "max_epochs": 2, "optim": "SGD", "learning_rate": 0.05}
    data = {"shuffle_train": False}
    free = ki.train_model("free", {"arch": LINEAR, "data": data, "trainer": base})
    clipped = ki.train_model("clipped", {"arch": LINEAR, "data": data, "trainer": {**base, "gradient_clip_val": 1e-9}})
    free_loss = [r["train_loss_scaled"] for r in read_history(free.run_dir / "metrics.csv")]
    clip_loss = [r["train_loss_scaled"] for r in read_history(clipped.run_dir / "metrics.csv")]
    assert clip_loss[1] == pytest.approx(clip_loss[0], rel=1e-6)  # steps of norm 1e-9: weights stay put
    assert abs(free_loss[1] - free_loss[0]) > 1e-3


def test_max_time_stops_training(ki):
    trainer = {**TINY_TRAINER, "max_epochs": 10_000, "limit_train_batches": 1.0, "max_time": "00:00:00:02"}
    started = time.perf_counter()
    result = ki.train_model("timed", {"arch": LINEAR, "trainer": trainer})
    assert time.perf_counter() - started < 60
    assert 1 <= json.loads((result.run_dir / "summary.json").read_text())["epochs"] < 10_000


def test_bf16_mixed_precision_on_cpu(ki):
    result = ki.train_model("bf16", {"arch": {"name": "lstm", "width": 8}, "trainer": {**TINY_TRAINER, "precision": "bf16-mixed"}})
    assert all(math.isfinite(v) for v in result.metrics.values())


def test_tensorboard_logger_writes_events_with_learning_rate(ki):
    result = ki.train_model("tb", {"arch": LINEAR, "trainer": {**TINY_TRAINER, "max_epochs": 2, "logger": ["csv", "tensorboard"]}})
    events = list((result.run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train_loss_scaled", "valid_loss_scaled", "epoch_time"} <= tags and any(t.startswith("lr") for t in tags)
    assert len(acc.Scalars("valid_loss_scaled")) == 2


def test_nan_guard_stops_marks_failed_and_keeps_the_good_checkpoint(ki):
    # the diverging test arch outputs NaN from its 7th training batch: epoch 1, batch 2
    kwargs = {"arch": {"name": "user_archs.diverging", "nan_after_batches": 6}, "trainer": {**TINY_TRAINER, "max_epochs": 4}}
    with pytest.raises(KnowItRunError, match=r"trainer: the training loss became nan at epoch 1, batch 2; likely causes: a learning rate too high"):
        ki.train_model("nan", kwargs)
    run_dir = ki.exp_dir / "models" / "nan"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and "epoch 1, batch 2" in summary["error"]
    assert summary["epochs"] == 1 and summary["last_checkpoint"] == "checkpoints/last.ckpt"
    loaded = ki.load(run_dir, checkpoint="last")
    assert loaded.predict_batch(torch.randn(3, *loaded.module.hparams.input_dim)).isfinite().all()
    assert not (run_dir / ".lock").exists()


LSTM_DROPOUT = {"name": "lstm", "width": 8, "depth": 2, "dropout": 0.5}


def test_api_resume_ends_with_the_uninterrupted_metrics(ki):
    trainer = {**TINY_TRAINER, "max_epochs": 4}
    whole = ki.train_model("whole", {"arch": LSTM_DROPOUT, "trainer": trainer})
    ki.train_model("parts", {"arch": LSTM_DROPOUT, "trainer": {**trainer, "max_epochs": 2}})
    resumed = ki.train_model("parts", {"arch": LSTM_DROPOUT, "trainer": trainer}, resume=True)
    for key, value in whole.metrics.items():
        assert resumed.metrics[key] == pytest.approx(value, rel=1e-6, abs=1e-9)
    a = pd.read_csv(whole.run_dir / "metrics.csv").drop(columns="epoch_time")
    b = pd.read_csv(resumed.run_dir / "metrics.csv").drop(columns="epoch_time")
    pd.testing.assert_frame_equal(a, b, rtol=1e-6)
    summary = json.loads((resumed.run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["resumed_from"].endswith("last.ckpt")


def test_resume_refuses_a_changed_architecture_or_a_missing_run(ki):
    from knowit import KnowItConfigError

    ki.train_model("r", {"arch": LSTM_DROPOUT, "trainer": TINY_TRAINER})
    with pytest.raises(KnowItConfigError, match="trainer.resume: arch.width was 8 in the run being resumed, this config says 16"):
        ki.train_model("r", {"arch": {**LSTM_DROPOUT, "width": 16}, "trainer": TINY_TRAINER}, resume=True)
    with pytest.raises(KnowItConfigError, match="trainer.resume: no checkpoint to resume from"):
        ki.train_model("never", {"arch": LSTM_DROPOUT, "trainer": TINY_TRAINER}, resume=True)


@pytest.mark.slow
def test_cli_run_killed_with_sigkill_resumes_to_the_same_metrics(tmp_path, exp_dir):
    args = ["train", "arch.width=16", "arch.depth=2", "arch.dropout=0.3", "trainer.max_epochs=4", "trainer.limit_train_batches=30",
            "trainer.limit_val_batches=3", "trainer.limit_test_batches=3", "trainer.accelerator=cpu"]
    whole = run_cli([*args, "model_name=whole"], cwd=tmp_path, exp_dir=exp_dir)
    assert whole.returncode == 0, whole.stderr
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR), "KNOWIT_EXP_DIR": str(exp_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "knowit", *args, "model_name=killed"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = exp_dir / "models" / "killed" / "metrics.csv"
    # Wait for what is asserted below: a last.ckpt of the second epoch (the history row of an
    # epoch is written before its checkpoint, so waiting for rows raced with the save).
    deadline = time.time() + 240
    while time.time() < deadline and _saved_epoch(exp_dir / "models" / "killed") < 1 and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(read_history(history))
    assert 2 <= done < 4, "the run was not killed mid-training"
    assert _ckpt(exp_dir / "models" / "killed")["epoch"] >= 1
    resumed = run_cli([*args, "model_name=killed", "trainer.resume=killed"], cwd=tmp_path, exp_dir=exp_dir)
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((exp_dir / "models" / "whole" / "summary.json").read_text())
    b = json.loads((exp_dir / "models" / "killed" / "summary.json").read_text())
    assert b["status"] == "completed" and b["epochs"] == 4
    for key, value in a["metrics"].items():
        assert b["metrics"][key] == pytest.approx(value, rel=1e-6, abs=1e-9)


@pytest.mark.slow
def test_ddp_cpu_trains_with_two_processes_and_rank_zero_writes(tmp_path, exp_dir):
    args = ["train", "trainer=ddp_cpu", "arch.width=8", "trainer.max_epochs=2", "data.batch_size=256",
            "trainer.limit_val_batches=2", "trainer.limit_test_batches=2", "model_name=ddp"]
    out = run_cli(args, cwd=tmp_path, exp_dir=exp_dir, timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "GLOBAL_RANK" not in out.stdout + out.stderr  # Lightning's per-rank start-up lines stay out
    assert out.stdout.count("run directory:") == 1 and out.stdout.count("model: lstm") == 1  # only rank 0 reports
    run_dir = exp_dir / "models" / "ddp"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and set(summary["metrics"]) == {"valid_loss_scaled", "valid_mae", "test_loss_scaled", "test_mae"}
    # two processes ran: each takes every other batch (the same number each), half the steps of one process
    n_batches = -(-summary["data"]["n_points"]["train"] // 256)
    assert _ckpt(run_dir)["global_step"] == 2 * (n_batches // 2)
    history = read_history(run_dir / "metrics.csv")
    assert len(history) == 2
    assert sorted(p.name for p in exp_dir.joinpath("models").iterdir()) == ["ddp"]
    # Each process validated its first 2 batches, together the set's first 4: the summary's
    # final evaluation (one process) reads those 4, so it agrees with the best epoch's line.
    best = next(row for row in history if row["epoch"] == summary["best_epoch"])
    assert summary["metrics"]["valid_mae"] == pytest.approx(best["valid_mae"], rel=1e-5)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_buffered_epoch_metrics_equal_the_whole_epoch_values(task):
    """EpochMetrics hands batches to torchmetrics in groups: over more batches than a group, with
    uneven batch sizes, the values are the whole epoch's, and reset starts afresh."""
    import torch

    from knowit.training.metrics import EpochMetrics

    gen = torch.Generator().manual_seed(0)
    names = ["accuracy", "f1"] if task == "classification" else ["mae", "r2"]
    metrics = EpochMetrics(names, task, 4, "valid")
    sizes = [int(s) for s in torch.randint(1, 9, (2 * EpochMetrics.FLUSH_EVERY + 5,), generator=gen)]
    outputs, targets, losses = [], [], []
    for size in sizes:
        out = torch.randn(size, 4 if task == "classification" else 1, generator=gen)
        target = torch.randint(0, 4, (size,), generator=gen) if task == "classification" else torch.randn(size, 1, generator=gen)
        loss = torch.rand((), generator=gen)
        metrics.update(loss, out, target)
        outputs.append(out), targets.append(target), losses.append(float(loss) * size)
    got = {k: float(v) for k, v in metrics.compute().items()}
    out, target = torch.cat(outputs), torch.cat(targets)
    assert got["valid_loss"] == pytest.approx(sum(losses) / len(out), rel=1e-6)
    if task == "classification":
        assert got["valid_accuracy"] == pytest.approx(float((out.argmax(1) == target).float().mean()), abs=1e-6)
    else:
        err = (out - target).numpy()
        assert got["valid_mae"] == pytest.approx(float(np.abs(err).mean()), rel=1e-5)
        assert got["valid_r2"] == pytest.approx(1 - float((err**2).sum() / ((target - target.mean()) ** 2).sum()), rel=1e-5)
    metrics.reset()
    metrics.update(torch.tensor(2.0), out[:3], target[:3])
    assert float(metrics.compute()["valid_loss"]) == pytest.approx(2.0)


def test_a_limit_of_one_batch_is_one_batch_not_the_whole_set(tmp_path):
    """``trainer.limit_val_batches=1`` is the count 1; only the fraction 1.0 means every batch
    (``1 == 1.0`` made one batch the whole set)."""
    from knowit.config.schema import TrainerConfig
    from knowit.config.validate import build
    from knowit.rundir import RunDir
    from knowit.training.trainer import build_trainer

    cfg = build(TrainerConfig, {"limit_val_batches": 1, "limit_test_batches": 1.0}, "trainer")
    trainer = build_trainer(cfg, RunDir(tmp_path / "run"), progress_bar=False)
    assert trainer.limit_val_batches == 1 and isinstance(trainer.limit_val_batches, int)
    assert trainer.limit_test_batches == 1.0 and isinstance(trainer.limit_test_batches, float)


def test_per_step_hooks_reach_two_callbacks_and_the_profiler_costs_nothing(tmp_path):
    """Lightning dispatches ~6 hooks per training step to every callback and enters a profiler
    context around each hook: knowit's per-epoch callbacks sit behind one callback, and the
    profiler hands out one shared null context (see benchmarks: per-step overhead)."""
    from knowit.config.schema import TrainerConfig
    from knowit.config.validate import build
    from knowit.rundir import RunDir
    from knowit.training.callbacks import EpochCallbacks, EpochHistory, LastCheckpoint
    from knowit.training.progress import EpochLines
    from knowit.training.trainer import EpochSeed, build_trainer

    from pytorch_lightning.callbacks import ModelCheckpoint

    trainer = build_trainer(build(TrainerConfig, {}, "trainer"), RunDir(tmp_path / "run"), progress_bar=False)
    assert [type(cb).__name__ for cb in trainer.callbacks if type(cb).__name__ != "EarlyStopping"] == ["RunCheckpoint", "EpochCallbacks"]
    checkpoint = trainer.callbacks[0]
    # Lightning reads a callback's state key at every hook: built once, and Lightning's own key, so
    # runs checkpointed before (and after) resume with their best score.
    assert checkpoint.state_key is checkpoint.state_key
    assert checkpoint.state_key == ModelCheckpoint(monitor=checkpoint.monitor, mode=checkpoint.mode).state_key
    parts = next(cb for cb in trainer.callbacks if isinstance(cb, EpochCallbacks)).parts
    assert [type(p) for p in parts] == [EpochSeed, EpochHistory, EpochLines, LastCheckpoint]  # the order their epoch hooks run in
    assert trainer.profiler.profile("a") is trainer.profiler.profile("b")

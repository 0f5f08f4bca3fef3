"""Experiment loggers, each for real: MLflow on a SQLite store in the run folder, W&B offline
(no account, no network), and several loggers at once from the command line."""
from __future__ import annotations

import json
import re

import pytest

from knowit.errors import KnowItConfigError
from knowit.training.callbacks import read_history
from knowit.training.trainer import _require

from conftest import TINY_ARCH, TINY_OVERRIDES, TINY_TRAINER

LINEAR = {"name": TINY_ARCH}


def test_mlflow_logs_every_epoch_into_a_sqlite_store_in_the_run(ki, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory (./mlruns)
    result = ki.train_model("mlf", {"arch": LINEAR, "trainer": {**TINY_TRAINER, "max_epochs": 2, "logger": "mlflow"}})
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{result.run_dir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("knowit")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "mlf" and run.info.artifact_uri.startswith((result.run_dir / "mlartifacts").as_uri())
    history = client.get_metric_history(run.info.run_id, "valid_loss_scaled")
    assert len(history) == 2 and history[-1].value == pytest.approx(result.final["valid_loss_scaled"], rel=1e-6)
    assert not (tmp_path / "mlruns").exists()


def test_wandb_offline_needs_no_account_and_logs_every_epoch(ki, monkeypatch):
    for key in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DIR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(ki.exp_dir / "wandb_config"))  # not the user's ~/.config/wandb
    result = ki.train_model("wb", {"arch": LINEAR, "trainer": {**TINY_TRAINER, "max_epochs": 2, "logger": ["wandb"]}})
    (offline,) = (result.run_dir / "wandb").glob("offline-run-*")
    # Offline runs keep their records in the .wandb log; each logged item is a protobuf field
    # holding the key and the value as JSON text (tag 0x82 0x01, one length byte, the text).
    (records,) = offline.glob("run-*.wandb")
    data = records.read_bytes()
    logged = set()
    for match in re.finditer(rb"valid_loss_scaled\x82\x01", data):
        length = data[match.end()]
        logged.add(json.loads(data[match.end() + 1: match.end() + 1 + length]))
    expected = {row["valid_loss_scaled"] for row in read_history(result.run_dir / "metrics.csv")}
    assert len(expected) == 2 and sorted(logged) == pytest.approx(sorted(expected), rel=1e-6)


def test_a_list_of_loggers_from_the_command_line(cli_main, tmp_path, exp_dir):
    proc = cli_main(["train", f"trainer.logger=[csv,tensorboard]", f"arch.name={TINY_ARCH}", "model_name=both", *TINY_OVERRIDES],
                   cwd=tmp_path, exp_dir=exp_dir)
    assert proc.returncode == 0, proc.stderr
    run = exp_dir / "models" / "both"
    assert (run / "metrics.csv").is_file() and list((run / "tensorboard").rglob("events.out.tfevents.*"))


def test_unknown_logger_and_missing_package_are_one_line():
    from knowit.config.run_config import validate

    with pytest.raises(KnowItConfigError, match=r"^trainer\.logger\[1\]: 'neptune' is not a logger; choose from: csv, tensorboard, mlflow, wandb$"):
        validate({"trainer": {"logger": ["csv", "neptune"]}, "arch": {"name": "lstm"}})
    with pytest.raises(KnowItConfigError, match=r"^trainer\.logger\[0\]: the no_such_pkg logger needs the no_such_pkg package; install it with: pip install 'knowit\[no_such_pkg\]'$"):
        _require("no_such_pkg", "trainer.logger[0]", "no_such_pkg")

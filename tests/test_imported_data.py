"""Your own data in one path: ``knowit import`` makes ``data=<name>`` a config choice (CLI and API),
with the dataset's task and declared targets as defaults, and prints the command that trains on it."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import TINY_ARCH, TINY_OVERRIDES, TINY_TRAINER, run_cli
from knowit.cli import main as cli_main
from knowit.config.compose import compose, normalize_overrides
from knowit.config.run_config import validate
from knowit.errors import KnowItConfigError


def _series(n: int = 300, *, labels: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    a = np.sin(np.arange(n) / 7.0) + rng.normal(0, 0.1, n)
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n, freq="h"), "a": a, "b": rng.normal(size=n)})
    frame["load"] = np.roll(a, 2) + 0.5 * frame["b"]
    if labels:
        frame["state"] = np.where(frame["load"] > 0, "high", "low")
    return frame


def test_cli_import_prints_the_next_command_and_it_trains(tmp_path: Path, exp_dir: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    csv = tmp_path / "my_series.csv"
    _series().to_csv(csv, index=False)
    monkeypatch.setenv("KNOWIT_EXP_DIR", str(exp_dir))
    assert cli_main(["import", str(csv), "--name", "my_data", "--targets", "load"]) == 0
    out = capsys.readouterr().out
    command = next(line for line in out.splitlines() if line.startswith("next: "))[len("next: "):]
    assert command == "python -m knowit train data=my_data"
    written = yaml.safe_load((exp_dir / "conf" / "data" / "my_data.yaml").read_text())
    # a first run forecasts one step ahead, from every component's past (the target's own too)
    assert written == {"name": "my_data", "task": "regression", "in_components": None, "out_components": ["load"], "out_chunk": [1, 1]}
    # the printed command, run as printed (plus tiny settings), trains on the user's own columns
    args = shlex.split(command)[3:]
    done = run_cli([*args, f"arch.name={TINY_ARCH}", *TINY_OVERRIDES, "model_name=mine"], cwd=tmp_path, exp_dir=exp_dir)
    assert done.returncode == 0, done.stderr
    summary = json.loads((exp_dir / "models" / "mine" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["dataset"] == "my_data"
    assert summary["data"]["in_components"] == ["a", "b", "load"] and summary["data"]["out_components"] == ["load"]


def test_api_selects_an_imported_dataset_by_name_with_its_task_and_targets(ki) -> None:
    ki.import_dataset({"data_import": {"raw_data": _series(labels=True), "meta": {"name": "states", "labels": ["state"], "targets": ["state"]}}})
    cfg = ki.config("m", {"data": {"name": "states"}})
    assert (cfg.data.task, cfg.data.out_components, cfg.data.scaling_tag) == ("classification", ["state"], "in_only")
    # the same choice through overrides, and a key changed on top of it
    cfg = ki.config("m", overrides=["data=states", "data.batch_size=8"])
    assert (cfg.data.name, cfg.data.task, cfg.data.batch_size) == ("states", "classification", 8)
    result = ki.train_model("m", {"data": {"name": "states", "in_chunk": [-4, 0]}, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER})
    assert result.status == "completed" and "valid_accuracy" in result.metrics


def test_imported_choices_reach_hydra_and_error_messages(exp_dir: Path, ki) -> None:
    ki.import_dataset({"data_import": {"raw_data": _series(), "meta": {"name": "no_targets"}}})
    written = yaml.safe_load((exp_dir / "conf" / "data" / "no_targets.yaml").read_text())
    assert written["out_components"] is None
    from knowit.config.imported_data import next_command

    assert next_command("no_targets", ki.summarize_dataset("no_targets")) == "python -m knowit train data=no_targets 'data.out_components=[load]'"
    # @hydra.main gets the same search path through normalize_overrides (sweeps use it)
    assert any(o.startswith("hydra.searchpath=") and str(exp_dir / "conf") in o for o in normalize_overrides(["data=no_targets"], exp_dir))
    cfg = validate(compose(["data=no_targets", "data.out_components=[load]", f"exp_dir={exp_dir}"]))
    assert cfg.data.name == "no_targets" and cfg.data.out_components == ["load"]
    with pytest.raises(KnowItConfigError, match=r"^data: .*available choices: .*no_targets.*synth_regression"):
        compose(["data=no_such", f"exp_dir={exp_dir}"])
    with pytest.raises(KnowItConfigError, match=r"^data: "):  # another experiment directory does not see it
        compose(["data=no_targets", f"exp_dir={exp_dir.parent / 'other'}"])


def test_a_series_without_a_calendar_gets_no_forecast_line_that_repeats_next(cli_main, tmp_path, exp_dir):
    """Numeric time has no season: the forecast command would be one step ahead, which is the
    `next:` run already ("v 1 to 1 steps ahead" was printed)."""
    pd.DataFrame({"time": np.arange(200.0), "v": np.sin(np.arange(200) / 5.0)}).to_csv(tmp_path / "num.csv", index=False)
    out = cli_main(["import", "num.csv", "--name", "num", "--targets", "v"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0, out.stderr
    assert "next: python -m knowit train data=num" in out.stdout and "forecast:" not in out.stdout

"""Resume from the run's own config: only the keys given change (CLI and API alike)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import TINY_ARCH, TINY_TRAINER
from knowit.config.resume import kwargs_keys, override_keys
from knowit.errors import KnowItConfigError

# A run whose config differs from every default in data, arch and trainer (scheduler included).
FIRST = {
    "data": {"name": "synth_regression", "in_chunk": [-5, 0], "batch_size": 16},
    "arch": {"name": TINY_ARCH, "arch_hps": {"arch_args": {"hidden": 6}}},
    "trainer": {**TINY_TRAINER, "learning_rate": 0.01, "lr_scheduler": "StepLR", "lr_scheduler_kwargs": {"step_size": 1, "gamma": 0.5}},
}


def _saved(run: Path) -> dict:
    return yaml.safe_load((run / "config.yaml").read_text())


def test_given_keys_of_overrides_and_kwargs() -> None:
    assert override_keys(["trainer.max_epochs=20", "++arch.width=3", "~trainer.lr_scheduler", "data=my", "hydra.verbose=true"]) == [
        "trainer.max_epochs", "arch.width", "trainer.lr_scheduler", "data"]
    assert override_keys(["experiment=lstm_regression"]) == ["*"]
    assert kwargs_keys({"arch": {"name": "lstm", "arch_hps": {"arch_args": {"width": 8}}}, "trainer": {"max_epochs": 3, "optim_kwargs": {}}}) == [
        "arch.name", "arch.width", "trainer.max_epochs", "trainer.optim_kwargs"]


def test_api_resume_with_only_more_epochs(ki) -> None:
    first = ki.train_model("m", FIRST)
    before = _saved(first.run_dir)
    resumed = ki.train_model("m", resume=True, overrides=["trainer.max_epochs=2"])
    after = _saved(resumed.run_dir)
    assert after["trainer"]["max_epochs"] == 2 and after["trainer"]["resume"] == "m"
    for key in ("data", "arch"):
        assert after[key] == before[key]
    assert {k: v for k, v in after["trainer"].items() if k not in ("max_epochs", "resume")} == \
        {k: v for k, v in before["trainer"].items() if k not in ("max_epochs", "resume")}
    history = pd.read_csv(resumed.run_dir / "metrics.csv")
    assert history["epoch"].tolist() == [0, 1]
    assert history["lr"].tolist() == pytest.approx([0.01, 0.005])  # the saved StepLR went on stepping
    # kwargs on resume change only what they name, too
    again = ki.train_model("m", {"trainer": {"max_epochs": 3}}, resume=True)
    assert _saved(again.run_dir)["trainer"]["lr_scheduler"] == "StepLR"
    assert pd.read_csv(again.run_dir / "metrics.csv")["epoch"].tolist() == [0, 1, 2]


def test_a_change_that_cannot_happen_on_resume_is_still_refused(ki) -> None:
    ki.train_model("m", FIRST)
    with pytest.raises(KnowItConfigError, match=r"^trainer\.resume: data\.in_chunk was \[-5, 0\] in the run being resumed, this config says \[-3, 0\]"):
        ki.train_model("m", resume=True, overrides=["data.in_chunk=[-3,0]", "trainer.max_epochs=2"])
    with pytest.raises(KnowItConfigError, match=r"^trainer\.resume: trainer\.optim was 'Adam' in the run being resumed, this config says 'SGD'"):
        ki.train_model("m", resume=True, overrides=["trainer.optim=SGD", "trainer.max_epochs=2"])
    summary = json.loads((ki.run_dir("m") / "summary.json").read_text())
    assert summary["epochs"] == 1 and "resumed_from" not in summary  # the refused resumes touched nothing


def test_cli_resume_names_only_the_new_epochs(cli_main, tmp_path: Path, exp_dir: Path) -> None:
    from knowit import KnowIt

    KnowIt(exp_dir).train_model("m", FIRST)
    out = cli_main(["train", "trainer.resume=m", "trainer.max_epochs=2"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0, out.stderr
    run = exp_dir / "models" / "m"
    assert _saved(run)["trainer"]["lr_scheduler"] == "StepLR" and _saved(run)["arch"]["hidden"] == 6
    assert pd.read_csv(run / "metrics.csv")["epoch"].tolist() == [0, 1]
    assert json.loads((run / "summary.json").read_text())["resumed_from"].endswith("last.ckpt")

"""Nothing in a run folder chooses code: a shared run folder carrying a ``payload.py`` and files
that name it (checkpoint hyperparameters, config.yaml, summary.json pointing at another run's
checkpoint) never gets that file imported, through any door: CLI evaluate/predict/viz/interpret,
``KnowIt.load`` and resume.

The experiment directory is put on ``sys.path`` as ``python -m knowit`` does with its working
directory (and a notebook with its own), so ``models.evil.payload`` is importable: only
knowit's loading rule stands between the payload and the user.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch
import yaml

from knowit import KnowIt
from knowit.errors import KnowItRunError

from conftest import TINY_TRAINER, run_cli

KWARGS = {"data": {"name": "synth_regression"}, "arch": {"name": "lstm", "width": 4}, "trainer": TINY_TRAINER}
PAYLOAD = "models.evil.payload"


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> tuple[Path, Path]:
    """``(exp_dir, marker)``: a good run and its booby-trapped copy ``evil``, plus ``other``
    whose checkpoint names the payload too (for best_checkpoint pointing outside ``evil``)."""
    exp = tmp_path_factory.mktemp("shared") / "exp"
    KnowIt(exp).train_model("good", KWARGS)
    marker = exp.parent / "PAYLOAD_RAN"
    models = exp / "models"
    for name in ("other", "evil"):
        shutil.copytree(models / "good", models / name)
        (models / name / ".lock").unlink(missing_ok=True)
        (models / name / "payload.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).touch()\n")
        for ckpt in (models / name / "checkpoints").glob("*.ckpt"):
            state = torch.load(ckpt, weights_only=True)
            state["hyper_parameters"]["arch_module"] = f"models.{name}.payload"
            for key, cb in state.get("callbacks", {}).items():
                if key.startswith("ModelCheckpoint"):  # resume restores these: point best at the other run
                    other_best = sorted((models / "other" / "checkpoints").glob("best*.ckpt"))[-1]
                    cb.update(dirpath=str((models / name / "checkpoints").resolve()), best_model_path=str(other_best.resolve()),
                              best_model_score=torch.tensor(0.0), best_k_models={str(other_best.resolve()): torch.tensor(0.0)})
            torch.save(state, ckpt)
    return exp, marker


@pytest.fixture
def on_path(shared, monkeypatch):
    exp, marker = shared
    monkeypatch.syspath_prepend(str(exp))
    yield exp, marker
    assert not marker.exists(), "the run folder's payload.py ran"
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        sys.modules.pop(name)


def _summary_points_outside(exp: Path, run: str) -> Path:
    """A copy of ``evil`` whose summary.json names the other run's checkpoint by absolute path."""
    import json

    target = exp / "models" / run
    if not target.exists():
        shutil.copytree(exp / "models" / "evil", target)
        summary = json.loads((target / "summary.json").read_text())
        other = sorted((exp / "models" / "other" / "checkpoints").glob("best*.ckpt"))[-1]
        summary["best_checkpoint"] = str(other.resolve())
        (target / "summary.json").write_text(json.dumps(summary))
    return target


def test_checkpoint_naming_a_module_in_the_run_folder_never_runs_it(on_path) -> None:
    exp, marker = on_path
    # The arch comes from config.yaml (lstm); the checkpoint that says otherwise is refused.
    with pytest.raises(KnowItRunError, match=r"^checkpoint: .*arch_module='models.evil.payload'.*does not belong to this run"):
        KnowIt.load(exp / "models" / "evil")
    good = KnowIt.load(exp / "models" / "good")
    assert type(good.model).__module__ == "knowit.default_archs.lstm"


def test_config_naming_a_module_in_the_run_folder_is_refused_unless_the_user_names_it(on_path, tmp_path) -> None:
    exp, marker = on_path
    run = exp / "models" / "evil_config"
    if not run.exists():
        shutil.copytree(exp / "models" / "evil", run)
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        cfg["arch"]["name"] = "models.evil_config.payload"
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(KnowItRunError, match=r"^arch.name: .*user architecture 'models.evil_config.payload'.*--arch"):
        KnowIt.load(run)
    with pytest.raises(KnowItRunError, match=r"^arch.name: "):
        KnowIt(exp).evaluate("evil_config")
    # Naming the shipped arch explicitly loads the weights; the checkpoint says another arch: refused.
    with pytest.raises(KnowItRunError, match=r"^checkpoint: .*arch_module"):
        KnowIt.load(run, arch="lstm")


@pytest.mark.parametrize("key", ["loss_fn", "performance_metrics"])
def test_config_naming_a_loss_or_metric_in_the_run_folder_never_runs_it(on_path, key) -> None:
    exp, marker = on_path
    run = exp / "models" / f"evil_{key}"
    if not run.exists():
        shutil.copytree(exp / "models" / "evil", run)
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        name = f"models.evil_{key}.payload.score"
        cfg["trainer"][key] = name if key == "loss_fn" else [name]
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(KnowItRunError, match=rf"^trainer.{key}.*models.evil_{key}.payload.score"):
        KnowIt.load(run)
    with pytest.raises(KnowItRunError, match=rf"^trainer.{key}"):
        KnowIt(exp).evaluate(run.name)


def test_best_checkpoint_outside_the_run_folder_is_refused(on_path) -> None:
    exp, marker = on_path
    run = _summary_points_outside(exp, "evil_summary")
    with pytest.raises(KnowItRunError, match=r"best_checkpoint.*outside the run folder"):
        KnowIt.load(run)
    with pytest.raises(KnowItRunError, match=r"outside the run folder"):
        KnowIt(exp).evaluate("evil_summary")


@pytest.mark.parametrize("command", [["evaluate"], ["predict"], ["viz", "--set", "valid"], ["interpret", "--size", "4"]])
def test_cli_doors_never_run_the_payload(on_path, command, capsys) -> None:
    from knowit.cli import main

    exp, marker = on_path
    run = _summary_points_outside(exp, "evil_summary")
    for name, problem in (("evil", "does not belong to this run"), (run.name, "outside the run folder")):
        code = main([command[0], name, *command[1:], "--exp-dir", str(exp)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and problem in err[0], err


def test_cli_in_the_experiment_directory_never_runs_the_payload(shared) -> None:
    """``python -m knowit`` run from the experiment directory: ``models.evil.payload`` is importable."""
    exp, marker = shared
    out = run_cli(["evaluate", "evil", "--exp-dir", "."], cwd=exp)
    assert out.returncode == 2 and "does not belong to this run" in out.stderr, out.stderr
    assert not marker.exists()


def test_resume_never_runs_the_payload_nor_reads_another_runs_checkpoint(on_path) -> None:
    exp, marker = on_path
    run = exp / "models" / "evil_resume"
    if not run.exists():
        shutil.copytree(exp / "models" / "evil", run)
    with pytest.raises(KnowItRunError, match=r"best_model_path.*outside the run folder"):
        KnowIt(exp).train_model("evil_resume", KWARGS, resume=True)


def test_a_user_architecture_loads_when_the_user_names_it(tmp_path, exp_dir) -> None:
    """A fresh process has not imported the user's module: the run alone cannot make it import it."""
    from conftest import TINY_ARCH

    KnowIt(exp_dir).train_model("mine", {**KWARGS, "arch": {"name": TINY_ARCH}})
    refused = run_cli(["evaluate", "mine"], cwd=tmp_path, exp_dir=exp_dir)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        f"knowit: error: arch.name: mine was trained with the user architecture {TINY_ARCH!r}; loading it imports and runs "
        f"that code, so name it yourself if you trust it: --arch {TINY_ARCH} (CLI) or arch={TINY_ARCH!r} (API)"]
    named = run_cli(["evaluate", "mine", "--arch", TINY_ARCH], cwd=tmp_path, exp_dir=exp_dir)
    assert named.returncode == 0 and "test_loss" in named.stdout, named.stderr

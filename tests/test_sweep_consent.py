"""Finished runs are never overwritten without consent (sweeps, overwrite, resume), and an
interrupted sweep says so: k of n jobs finished, the missing ones named, resumable."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import os
from pathlib import Path

import pytest

from knowit import KnowIt
from knowit.errors import KnowItError, KnowItRunError

from conftest import TESTS_DIR, TINY_ARCH, TINY_OVERRIDES, TINY_TRAINER, run_cli, tree_digest

KWARGS = {"data": {"name": "synth_regression"}, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER}


# -- a sweep job never writes into a folder it could not claim ----------------------------------
def test_a_job_that_cannot_claim_its_folder_records_its_failure_in_the_sweep_only(ki: KnowIt) -> None:
    from knowit.orchestrator import train_model
    from knowit.sweeps.guard import job_config, run_job
    from knowit.sweeps.plan import start_sweep
    from knowit.sweeps.summary import summarize_sweep

    finished = ki.train_model("finished", KWARGS).run_dir
    sweep = ki.exp_dir / "sweeps" / "s"
    start_sweep(sweep, jobs=[["arch.hidden=4"]], overwrite=False)
    shutil.copytree(finished, sweep / "0")  # job 0's folder already holds another, finished run
    before = tree_digest(sweep / "0")
    cfg = ki.config("s", KWARGS, overrides=["arch.hidden=4"], overwrite=True)  # overwrite must not reach it
    value, error = run_job(sweep / "0", job=0, overrides=["arch.hidden=4"], optimized_metric="valid_loss",
                           train=lambda: train_model(job_config(cfg), run_path=sweep / "0"))  # as every sweep door does
    assert value is None and error.startswith("model_name: a run already exists at ")
    assert tree_digest(sweep / "0") == before  # summary.json still says completed
    summary = summarize_sweep(sweep, plot=False)
    assert [(j["job"], j["status"]) for j in summary.jobs] == [(0, "failed")] and summary.best is None
    assert "a run already exists" in summary.jobs[0]["error"]


def test_hydra_sweep_dir_pointed_at_a_models_folder_is_refused_even_with_overwrite(tmp_path: Path, ki: KnowIt, capsys) -> None:
    from knowit.cli import main

    run = ki.train_model("0", KWARGS).run_dir  # models/0: what job 0 of that sweep would write to
    before = tree_digest(ki.exp_dir)
    for extra, problem in (([], "already exists"), (["overwrite=true"], "holds other things than a knowit sweep")):
        code = main(["train", "-m", f"arch.name={TINY_ARCH}", "arch.hidden=2,4", *TINY_OVERRIDES, f"exp_dir={ki.exp_dir}",
                     f"hydra.sweep.dir={ki.exp_dir / 'models'}", *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and problem in err[0], err
    assert tree_digest(ki.exp_dir) == before and (run / "summary.json").is_file()


@pytest.mark.slow
def test_two_identical_sweeps_started_at_once_one_runs_the_other_is_refused(tmp_path: Path, exp_dir: Path) -> None:
    args = ["train", "-m", f"arch.name={TINY_ARCH}", "arch.hidden=2,4", *TINY_OVERRIDES, "model_name=twin"]
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR), "KNOWIT_EXP_DIR": str(exp_dir)}
    procs = [subprocess.Popen([sys.executable, "-m", "knowit", *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], [o[1][-2000:] for o in outs]
    refused = next(o[1] for p, o in zip(procs, outs) if p.returncode == 2).strip().splitlines()
    assert len(refused) == 1 and refused[0].startswith("knowit: error: model_name: sweep ") and "Traceback" not in refused[0]
    sweep = exp_dir / "sweeps" / "twin"
    for job in ("0", "1"):
        assert json.loads((sweep / job / "summary.json").read_text())["status"] == "completed"
    assert json.loads((sweep / "sweep_summary.json").read_text())["finished_jobs"] == 2


# -- a failed resume leaves the run as it was --------------------------------------------------
def test_a_failed_resume_leaves_the_summary_and_metrics_and_records_the_attempt(ki: KnowIt) -> None:
    # the diverging test arch turns NaN after 4 training batches (its counter restarts on resume):
    # epoch 0 is fine, a resume to 3 epochs fails in its second epoch.
    kwargs = {**KWARGS, "arch": {"name": "user_archs.diverging", "nan_after_batches": 4}}
    run = ki.train_model("r", kwargs).run_dir
    kept = {name: (run / name).read_bytes() for name in ("summary.json", "metrics.csv", "config.yaml", "scalers.json")}
    assert json.loads(kept["summary.json"])["status"] == "completed"
    with pytest.raises(KnowItRunError, match="training loss became nan"):
        ki.train_model("r", {**kwargs, "trainer": {**TINY_TRAINER, "max_epochs": 3}}, resume=True)
    assert {name: (run / name).read_bytes() for name in kept} == kept
    attempts = json.loads((run / "resume_failures.json").read_text())
    assert len(attempts) == 1 and "training loss became nan" in attempts[0]["error"] and attempts[0]["at"]
    assert not (run / ".lock").exists()


def test_a_resume_from_a_damaged_checkpoint_is_refused_before_anything_changes(ki: KnowIt) -> None:
    run = ki.train_model("d", KWARGS).run_dir
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:300])
    before = tree_digest(run)
    with pytest.raises(KnowItError, match=r"^trainer.resume: .*last.ckpt cannot be loaded"):
        ki.train_model("d", {**KWARGS, "trainer": {**TINY_TRAINER, "max_epochs": 2}}, resume=True)
    assert tree_digest(run) == before


# -- an interrupted sweep is visible and resumable ----------------------------------------------
def test_a_killed_sweep_shows_k_of_n_lists_the_missing_jobs_and_resumes_only_them(ki: KnowIt) -> None:
    grid = {"arch.hidden": [2, 4, 8]}
    summary = ki.sweep("g", KWARGS, grid)
    sweep = summary.sweep_dir
    # What a SIGKILL during job 1 leaves: job 1 half-written (config, 'running' summary, its lock,
    # no job record), job 2 never started; job 0 finished.
    shutil.rmtree(sweep / "2")
    (sweep / "1" / "sweep_job.json").unlink()
    shutil.rmtree(sweep / "1" / "checkpoints")
    (sweep / "1" / "summary.json").write_text(json.dumps({"status": "running"}))
    (sweep / "1" / ".lock").write_text(json.dumps({"pid": 1, "host": __import__("socket").gethostname()}))
    for name in ("sweep_summary.csv", "sweep_summary.json", "best"):
        (sweep / name).unlink()
    job0 = tree_digest(sweep / "0")

    from knowit.sweeps.summary import summarize_sweep

    partial = summarize_sweep(sweep, plot=False)
    text = partial.format()
    assert "(1 of 3 jobs finished" in text.splitlines()[0]
    assert "missing: jobs 1, 2 never finished; run them with: KnowIt.sweep(<same arguments>, resume=True)" in text
    assert partial.params == ["arch.hidden"]
    assert {j["job"]: j["params"]["arch.hidden"] for j in partial.jobs} == {0: 2, 1: 4, 2: 8}
    assert not (sweep / "1" / ".lock").exists()  # the killed job's stale lock is cleared
    table = partial.table()
    assert list(table["status"]) == ["completed", "incomplete", "missing"] and "arch.hidden" in table

    resumed = ki.sweep("g", KWARGS, grid, resume=True)
    assert sorted(j["job"] for j in resumed.jobs if j["status"] == "completed") == [0, 1, 2]
    assert resumed.planned == 3 and resumed.missing == [] and "(3 of 3 jobs finished" in resumed.format()
    assert tree_digest(sweep / "0") == job0  # the finished job was not run again
    with pytest.raises(KnowItError, match="grid: differs from the plan"):
        ki.sweep("g", KWARGS, {"arch.hidden": [2, 4]}, resume=True)


def test_cli_sweep_resume_runs_the_planned_jobs_that_never_finished(ki: KnowIt, cli_main, tmp_path: Path) -> None:
    from knowit.sweeps.plan import start_sweep

    sweep = ki.exp_dir / "sweeps" / "cli"
    base = [f"arch.name={TINY_ARCH}", *TINY_OVERRIDES, f"exp_dir={ki.exp_dir}", "model_name=cli"]
    start_sweep(sweep, jobs=[[*base, "arch.hidden=2"], [*base, "arch.hidden=4"]], overwrite=False)  # killed before job 0
    out = cli_main(["sweep", "resume", str(sweep), "--arch", TINY_ARCH], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "(2 of 2 jobs finished" in out.stdout
    assert [json.loads((sweep / j / "summary.json").read_text())["status"] for j in ("0", "1")] == ["completed", "completed"]

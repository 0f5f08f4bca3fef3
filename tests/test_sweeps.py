"""Sweeps: grids (CLI multirun and KI.sweep), Optuna search, launchers, and the sweep summary."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import yaml

from knowit import KnowIt
from knowit.errors import KnowItConfigError, KnowItRunError
from knowit.sweeps.grid import expand_grid, grid_overrides, override_value
from knowit.sweeps.summary import metric_direction, summarize_sweep

from conftest import TINY_OVERRIDES, TINY_TRAINER, run_cli, tree_digest

DIVERGING = ["train", "arch.name=user_archs.diverging", *TINY_OVERRIDES]


# -- grids ---------------------------------------------------------------------------------------
def test_expand_grid_is_the_cartesian_product_in_hydra_order() -> None:
    jobs = expand_grid(["a=1,2", "b=range(3,5)", "c=x", "d=interval(0,1)"])
    assert jobs == [["a=1", "b=3", "c=x"], ["a=1", "b=4", "c=x"], ["a=2", "b=3", "c=x"], ["a=2", "b=4", "c=x"]]
    assert expand_grid(["c=[1,2]"]) == [["c=[1,2]"]]  # a list value is one value, not a sweep


def test_grid_overrides_from_python_values() -> None:
    jobs = grid_overrides({"arch.width": [32, 64], "trainer.lr_scheduler": [None, "StepLR"]})
    assert jobs == [["arch.width=32", "trainer.lr_scheduler=null"], ["arch.width=32", "trainer.lr_scheduler=StepLR"],
                    ["arch.width=64", "trainer.lr_scheduler=null"], ["arch.width=64", "trainer.lr_scheduler=StepLR"]]
    assert override_value(True) == "true" and override_value(1e-3) == "0.001" and override_value("a b") == '"a b"'
    assert override_value([1, 2]) == "[1,2]"
    for bad in ({}, {"arch.width": 32}, {"arch.width": []}, {"arch.width": "32"}):
        with pytest.raises(KnowItConfigError, match="grid"):
            grid_overrides(bad)


def test_search_space_jobs_try_every_choice_and_both_interval_ends() -> None:
    from knowit.sweeps.grid import interval_overrides, search_space_jobs

    jobs = search_space_jobs({"arch.width": "choice(32, 64)", "arch.dropout": "interval(0.0, 0.5)", "trainer.learning_rate": "tag(log, interval(0.0001, 0.01))"})
    assert jobs == [
        ["arch.width=32", "arch.dropout=0.0", "trainer.learning_rate=0.0001"],
        ["arch.width=64", "arch.dropout=0.0", "trainer.learning_rate=0.0001"],
        ["arch.width=32", "arch.dropout=0.5", "trainer.learning_rate=0.0001"],
        ["arch.width=32", "arch.dropout=0.0", "trainer.learning_rate=0.01"],
    ]
    assert interval_overrides(["a=interval(0,1)", "b=1,2", "c=3"]) == {"a": "interval(0,1)"}


def test_threads_per_parallel_job() -> None:
    from knowit.commands.hydra_app import threads_per_job

    assert [threads_per_job(16, n) for n in (1, 4, 3, -1, 32)] == [16, 4, 5, 1, 1]
    assert threads_per_job(2, 2) == 1 and threads_per_job(1, 4) == 1


def test_metric_direction() -> None:
    assert metric_direction("valid_loss") == "minimize" and metric_direction("test_rmse") == "minimize"
    assert metric_direction("valid_accuracy") == "maximize" and metric_direction("valid_r2") == "maximize"


# -- the summary, on a sweep directory written by hand -------------------------------------------
def _job(folder: Path, number: int, overrides: list[str], summary: dict | None, raw: str | None = None) -> None:
    job = folder / str(number)
    job.mkdir(parents=True)
    (job / "sweep_job.json").write_text(json.dumps({"job": number, "overrides": overrides, "optimized_metric": "valid_accuracy"}))
    if raw is not None:
        (job / "summary.json").write_text(raw)
    elif summary is not None:
        (job / "summary.json").write_text(json.dumps(summary))


def test_summary_ranks_a_maximised_metric_and_lists_every_failure(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    done = lambda acc: {"status": "completed", "metrics": {"valid_accuracy": acc, "valid_loss": 1 - acc}, "epochs": 3}  # noqa: E731
    _job(sweep, 0, ["arch.width=16", "trainer.learning_rate=0.01", "seed=1"], done(0.7))
    _job(sweep, 1, ["arch.width=32", "trainer.learning_rate=0.01", "seed=1"], done(0.9))
    _job(sweep, 2, ["arch.width=64", "trainer.learning_rate=0.01", "seed=1"], {"status": "failed", "error": "trainer: the training loss became nan"})
    _job(sweep, 3, ["arch.width=64", "trainer.learning_rate=0.1", "seed=1"], {"status": "running"})  # killed mid-run
    _job(sweep, 4, ["arch.width=16", "trainer.learning_rate=0.1", "seed=1"], None, raw='{"status": "compl')  # truncated
    _job(sweep, 10, ["arch.width=8", "trainer.learning_rate=0.1", "seed=1"], done(0.8))
    summary = summarize_sweep(sweep)
    assert summary.metric == "valid_accuracy" and summary.direction == "maximize"
    assert summary.params == ["arch.width", "trainer.learning_rate"]  # seed did not vary
    assert [j["job"] for j in summary.jobs] == [1, 10, 0, 2, 3, 4]
    assert [j["status"] for j in summary.jobs] == ["completed"] * 3 + ["failed", "incomplete", "unreadable"]
    assert summary.best["job"] == 1 and summary.best_run_dir == sweep / "1"
    assert (sweep / "best").resolve() == (sweep / "1").resolve()
    rows = list(csv.DictReader((sweep / "sweep_summary.csv").open()))
    assert [r["job"] for r in rows] == ["1", "10", "0", "2", "3", "4"]
    assert list(rows[0])[:5] == ["job", "status", "arch.width", "trainer.learning_rate", "valid_accuracy"]
    assert rows[0]["arch.width"] == "32" and float(rows[0]["valid_accuracy"]) == 0.9
    assert rows[3]["error"] == "trainer: the training loss became nan"
    record = json.loads((sweep / "sweep_summary.json").read_text())
    assert record["best"]["job"] == 1 and record["direction"] == "maximize" and len(record["jobs"]) == 6
    assert (sweep / "sweep_valid_accuracy.png").stat().st_size > 10_000
    text = summary.format()
    assert "job 2 failed: trainer: the training loss became nan" in text and "job 4 unreadable" in text
    assert text.splitlines()[2].startswith("*  1")
    # ranking by another metric flips the order; a metric no job logged is a clear error
    assert [j["job"] for j in summarize_sweep(sweep, metric="valid_loss").jobs][:3] == [1, 10, 0]
    with pytest.raises(KnowItConfigError, match="metric: 'valid_f1' was not logged"):
        summarize_sweep(sweep, metric="valid_f1")


def test_summary_of_a_sweep_where_every_job_failed(tmp_path: Path) -> None:
    _job(tmp_path / "s", 0, ["arch.width=1"], {"status": "failed", "error": "boom"})
    _job(tmp_path / "s", 1, ["arch.width=2"], {"status": "completed", "metrics": {"valid_accuracy": float("nan")}})
    summary = summarize_sweep(tmp_path / "s")
    assert summary.best is None and not (tmp_path / "s" / "best").exists()
    assert [j["status"] for j in summary.jobs] == ["failed", "failed"]
    assert "best: none" in summary.format()
    with pytest.raises(KnowItRunError, match="no sweep jobs"):
        summarize_sweep(tmp_path)


# -- the CLI: a grid with one job failing on purpose -------------------------------------------
def test_cli_grid_sweep_with_a_failing_job_ends_with_a_summary(cli_main, tmp_path: Path, exp_dir: Path) -> None:
    out = cli_main([*DIVERGING, "-m", "arch.nan_after_batches=100,0", "trainer.learning_rate=0.01,0.001", "model_name=sw"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0, out.stderr
    sweep = exp_dir / "sweeps" / "sw"
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1", "2", "3"]
    rows = list(csv.DictReader((sweep / "sweep_summary.csv").open()))
    assert [r["status"] for r in rows] == ["completed", "completed", "failed", "failed"]
    assert {r["arch.nan_after_batches"] for r in rows[:2]} == {"100"}
    values = [float(r["valid_loss_scaled"]) for r in rows[:2]]
    assert values == sorted(values)
    assert "the training loss became nan" in rows[2]["error"]
    best = json.loads((sweep / "sweep_summary.json").read_text())["best"]
    assert best["value"] == values[0] and (sweep / "best").resolve() == Path(best["run_dir"]).resolve()
    assert KnowIt.load(sweep / "best", arch="user_archs.diverging").summary["metrics"]["valid_loss_scaled"] == values[0]  # a user arch is named to be loaded
    assert "sorted by valid_loss" in out.stdout and f"best: job {best['job']}" in out.stdout
    # one line per finished job, naming only the swept values
    lines = [line for line in out.stdout.splitlines() if line.startswith("sweep job ")]
    assert [line.split("  ")[:2] for line in lines] == [
        [f"sweep job {n}/4", f"arch.nan_after_batches={nan} trainer.learning_rate={lr}"]
        for n, (nan, lr) in enumerate([(100, 0.01), (100, 0.001), (0, 0.01), (0, 0.001)], start=1)], lines
    assert [line.split("  ")[2].split(":")[0] for line in lines] == ["completed", "completed", "failed", "failed"]
    assert (sweep / "sweep_valid_loss_scaled.png").is_file()
    # summarize again from the CLI, by name, ranked by another metric
    again = cli_main(["sweep", "summarize", "sw", "--metric", "valid_mae"], cwd=tmp_path, exp_dir=exp_dir)
    assert again.returncode == 0 and "sorted by valid_mae" in again.stdout
    bad = cli_main(["sweep", "summarize", "sw", "--metric", "valid_nope"], cwd=tmp_path, exp_dir=exp_dir)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("knowit: error: metric: 'valid_nope'")
    # the same name again is refused; overwrite=true replaces the whole sweep
    refused = cli_main([*DIVERGING, "-m", "arch.nan_after_batches=100", "model_name=sw"], cwd=tmp_path, exp_dir=exp_dir)
    assert refused.returncode == 2 and "already exists" in refused.stderr
    replaced = cli_main([*DIVERGING, "-m", "arch.nan_after_batches=100", "model_name=sw", "overwrite=true"], cwd=tmp_path, exp_dir=exp_dir)
    assert replaced.returncode == 0, replaced.stderr
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0"]


@pytest.mark.parametrize(
    ("override", "key"),
    [("trainer.learning_rate=0.01,-1", "trainer.learning_rate"),  # the second job's value is bad
     ("optimized_metric=valid_acuracy", "optimized_metric"),
     ("arch.nan_after_batches=1,x", "arch.nan_after_batches")],
)
def test_cli_sweep_checks_every_job_before_the_first_starts(cli_main, tmp_path: Path, exp_dir: Path, override: str, key: str) -> None:
    before = tree_digest(exp_dir)
    out = cli_main([*DIVERGING, "-m", override, "model_name=bad"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [out.stderr.strip()] and out.stderr.startswith(f"knowit: error: {key}:"), out.stderr
    assert tree_digest(exp_dir) == before and not (exp_dir / "sweeps").exists()


def test_optuna_search_three_trials(tmp_path: Path, exp_dir: Path) -> None:
    out = run_cli(["train", "hparams_search=lstm_optuna", "hydra.sweeper.n_trials=3", *TINY_OVERRIDES,
                   "arch.width=choice(4,8)", "model_name=opt"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0, out.stderr
    sweep = exp_dir / "sweeps" / "opt"
    record = json.loads((sweep / "sweep_summary.json").read_text())
    assert len(record["jobs"]) == 3 and all(j["status"] == "completed" for j in record["jobs"])
    lines = [line for line in out.stdout.splitlines() if line.startswith("sweep job ")]
    assert [line.split("  ")[0] for line in lines] == ["sweep job 1/3", "sweep job 2/3", "sweep job 3/3"], out.stdout
    assert all(" trainer.learning_rate=" in line and "completed  valid_loss_scaled " in line for line in lines), lines
    values = [j["value"] for j in record["jobs"]]
    assert values == sorted(values) and record["best"]["value"] == min(values)
    optuna_best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert math.isclose(optuna_best["best_value"], min(values), rel_tol=1e-6)
    # each trial really trained the sampled learning rate
    for job in record["jobs"]:
        config = yaml.safe_load((Path(job["run_dir"]) / "config.yaml").read_text())
        sampled = [o for o in job["overrides"] if o.startswith("trainer.learning_rate=")]
        assert len(sampled) == 1 and math.isclose(config["trainer"]["learning_rate"], float(sampled[0].split("=")[1]))
        assert 1e-4 <= config["trainer"]["learning_rate"] <= 1e-2


def test_a_failing_trial_does_not_stop_an_optuna_search(tmp_path: Path, exp_dir: Path) -> None:
    """hydra-optuna-sweeper aborts on a NaN objective; a failed job reports the worst value instead."""
    out = run_cli([*DIVERGING, "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=1",
                   "hydra.sweeper.sampler.seed=1", "arch.nan_after_batches=choice(0,100)", "model_name=optf"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0, out.stderr
    record = json.loads((exp_dir / "sweeps" / "optf" / "sweep_summary.json").read_text())
    statuses = [j["status"] for j in record["jobs"]]
    assert len(statuses) == 4 and "failed" in statuses and "completed" in statuses
    failed = next(j for j in record["jobs"] if j["status"] == "failed")
    assert failed["params"]["arch.nan_after_batches"] == 0 and "training loss became nan" in failed["error"]
    optuna_best = yaml.safe_load((exp_dir / "sweeps" / "optf" / "optimization_results.yaml").read_text())
    assert math.isclose(optuna_best["best_value"], record["best"]["value"], rel_tol=1e-6)


def test_search_direction_must_agree_with_the_metric(tmp_path: Path, exp_dir: Path) -> None:
    out = run_cli(["train", "hparams_search=lstm_optuna", "optimized_metric=valid_r2", "trainer.performance_metrics=[r2]", "model_name=d"],
                  cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 2
    assert out.stderr.strip() == ("knowit: error: hydra.sweeper.direction: 'minimize' disagrees with optimized_metric 'valid_r2', "
                                  "which is to maximize; set hydra.sweeper.direction=maximize")
    ok = run_cli(["train", "hparams_search=lstm_optuna", "optimized_metric=valid_r2", "trainer.performance_metrics=[r2]",
                  "hydra.sweeper.direction=maximize", "hydra.sweeper.n_trials=1", *TINY_OVERRIDES, "model_name=d"], cwd=tmp_path, exp_dir=exp_dir)
    assert ok.returncode == 0, ok.stderr
    assert json.loads((exp_dir / "sweeps" / "d" / "sweep_summary.json").read_text())["direction"] == "maximize"


def test_joblib_launcher_runs_jobs_in_parallel_processes(tmp_path: Path, exp_dir: Path) -> None:
    out = run_cli([*DIVERGING, "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "arch.nan_after_batches=50,100", "model_name=par"],
                  cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0, out.stderr
    record = json.loads((exp_dir / "sweeps" / "par" / "sweep_summary.json").read_text())
    assert [j["status"] for j in record["jobs"]] == ["completed", "completed"]
    import os

    from knowit.commands.hydra_app import threads_per_job

    for job in record["jobs"]:  # the two jobs share the cores instead of each taking all of them
        summary = json.loads((Path(job["run_dir"]) / "summary.json").read_text())
        assert summary["torch_threads"] == threads_per_job(os.cpu_count(), 2) < max(2, os.cpu_count())
    assert "Joblib.Parallel" in out.stdout + out.stderr


@pytest.mark.parametrize(("launcher", "target"), [("slurm", "SlurmLauncher"), ("ray_cluster", "RayLauncher"), ("joblib", "JoblibLauncher")])
def test_shipped_launcher_configs_compose_and_instantiate(launcher: str, target: str) -> None:
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    with initialize_config_module("knowit.conf", version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra/launcher={launcher}", "model_name=x"], return_hydra_config=True)
    node = cfg.hydra.launcher
    assert node._target_.endswith(target)
    if launcher == "slurm":
        assert node.timeout_min == 240 and node.array_parallelism == 16
        assert OmegaConf.select(cfg, "hydra.launcher.submitit_folder").endswith("sweeps/x/.submitit/%j")
    launcher_obj = instantiate(node)  # the plugin accepts every field (no cluster needed)
    assert type(launcher_obj).__name__ == target


def test_api_sweep_runs_a_grid_and_returns_the_summary(ki: KnowIt) -> None:
    kwargs = {"arch": {"name": "user_archs.diverging"}, "trainer": TINY_TRAINER}
    grid = {"arch.nan_after_batches": [100, 0], "trainer.learning_rate": [0.01, 0.001]}
    summary = ki.sweep("api_sweep", kwargs, grid)
    sweep = ki.exp_dir / "sweeps" / "api_sweep"
    assert summary.sweep_dir == sweep and summary.params == ["arch.nan_after_batches", "trainer.learning_rate"]
    assert [j["status"] for j in summary.jobs] == ["completed", "completed", "failed", "failed"]
    table = summary.table()
    assert list(table["job"][:2]) in ([0, 1], [1, 0]) and table["valid_loss_scaled"][0] <= table["valid_loss_scaled"][1]
    assert (sweep / "best").resolve() == summary.best_run_dir.resolve()
    # the same layout as a CLI multirun: numbered jobs with their overrides recorded
    assert json.loads((sweep / "2" / "sweep_job.json").read_text())["overrides"] == ["arch.nan_after_batches=0", "trainer.learning_rate=0.01"]
    # a bad value anywhere in the grid fails before any job trains; a reused name is refused
    with pytest.raises(KnowItConfigError, match="trainer.learning_rate"):
        ki.sweep("other", kwargs, {"trainer.learning_rate": [0.01, -1.0]})
    assert not (ki.exp_dir / "sweeps" / "other").exists()
    with pytest.raises(KnowItRunError, match="already exists"):
        ki.sweep("api_sweep", kwargs, {"arch.nan_after_batches": [100]})
    again = ki.sweep("api_sweep", kwargs, {"arch.nan_after_batches": [100]}, overwrite=True)
    assert [j["job"] for j in again.jobs] == [0]


@pytest.mark.slow
def test_ray_launcher_runs_a_sweep_on_a_local_ray_cluster(tmp_path: Path, exp_dir: Path) -> None:
    """hydra/launcher=ray_cluster with RAY_ADDRESS empty starts a local Ray instance (an empty
    address once reached ray.init and was refused); each job runs as a Ray task in a worker
    process and lands in the sweep like a local job."""
    pytest.importorskip("ray")
    out = run_cli([*DIVERGING, "-m", "hydra/launcher=ray_cluster", "+hydra.launcher.ray.init.num_cpus=2",
                   "+hydra.launcher.ray.init.include_dashboard=false", "hydra.launcher.ray.remote.num_cpus=1",
                   "arch.nan_after_batches=50,100", "model_name=on_ray"],
                  cwd=tmp_path, exp_dir=exp_dir, env={"RAY_ADDRESS": ""}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Ray Launcher is launching 2 jobs" in out.stdout + out.stderr
    record = json.loads((exp_dir / "sweeps" / "on_ray" / "sweep_summary.json").read_text())
    assert [j["status"] for j in record["jobs"]] == ["completed", "completed"]
    for job in record["jobs"]:
        assert json.loads((Path(job["run_dir"]) / "summary.json").read_text())["status"] == "completed"

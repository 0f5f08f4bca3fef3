"""The Hydra application behind ``python -m knowit train -m`` (sweeps) and train runs with Hydra's own flags."""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from knowit.errors import KnowItError, KnowItInterrupted, os_errors_as_run_errors

_DEBUG = False


def _job(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return _train(cfg, run_path=None)
    # A sweep job: record what it ran, and let one failing job never stop the sweep.
    from knowit.sweeps.guard import run_job

    _share_cores(hc)
    run_path = Path(hc.runtime.output_dir)
    swept, total = _sweep_shape(hc)
    try:
        value, error = run_job(run_path, job=hc.job.num, overrides=list(hc.overrides.task),
                               optimized_metric=cfg.get("optimized_metric"), reraise=_DEBUG,
                               train=lambda: _train(cfg, run_path=run_path), total=total, swept=swept)
    except KnowItInterrupted as err:
        print(f"knowit: job {hc.job.num}: {err} (the sweep stopped; python -m knowit sweep resume {run_path.parent} "
              "runs the jobs it did not finish)", file=sys.stderr)
        sys.exit(130)
    if error:
        print(f"knowit: error: job {hc.job.num}: {error}", file=sys.stderr)
    return value if value is not None and math.isfinite(value) else _worst(cfg)


def _sweep_shape(hc: Any) -> tuple[set[str], int | None]:
    """The keys this multirun sweeps and its number of jobs (a grid's size, a search's trials),
    for the line each finished job prints."""
    from knowit.sweeps.grid import expand_grid, swept_keys

    given = [a for a in sys.argv[1:] if not a.startswith(("-", "hydra"))]
    sweeper = hc.get("sweeper") or {}
    keys = swept_keys(given) | {str(k) for k in (sweeper.get("params") or {})}
    if "BasicSweeper" in str(sweeper.get("_target_", "")):
        return keys, len(expand_grid(given))
    trials = sweeper.get("n_trials")
    return keys, int(trials) if trials else None


def threads_per_job(cpus: int, n_jobs: int) -> int:
    """Torch threads for one of ``n_jobs`` parallel jobs on ``cpus`` cores (joblib: -1 = all cores)."""
    parallel = cpus if n_jobs < 0 else max(1, min(n_jobs, cpus))
    return max(1, cpus // parallel)


def _share_cores(hc: Any) -> None:
    """Parallel local jobs (hydra/launcher=joblib) split the cores instead of each taking all of
    them: n jobs x all-core thread pools only fight over the same cores."""
    import os

    launcher = hc.get("launcher") or {}
    if "JoblibLauncher" in str(launcher.get("_target_", "")):
        n_jobs = int(launcher.get("n_jobs") or 1)
        if n_jobs != 1:
            import torch

            torch.set_num_threads(threads_per_job(os.cpu_count() or 1, n_jobs))


def _worst(cfg: DictConfig) -> float | None:
    """What a failed job reports to a search sweeper: the worst value, never NaN (Optuna's sweeper
    aborts the whole search on a NaN objective)."""
    from knowit.sweeps.summary import metric_direction

    metric = cfg.get("optimized_metric")
    if not metric:
        return None
    return math.inf if metric_direction(str(metric)) == "minimize" else -math.inf


def _train(cfg: DictConfig, *, run_path: Path | None) -> float | None:
    from knowit.config.run_config import validate
    from knowit.orchestrator import train_model

    try:
        raw = OmegaConf.to_container(cfg, resolve=True)
        if run_path is None:  # a single run: trainer.resume starts from the run's own config
            from hydra.core.hydra_config import HydraConfig

            from knowit.config.resume import from_resumed_run, override_keys

            raw = from_resumed_run(raw, override_keys(HydraConfig.get().overrides.task))
        rc = validate(raw)
        if run_path is not None:  # a sweep job
            from knowit.sweeps.guard import job_config

            rc = job_config(rc)
        with os_errors_as_run_errors():
            if run_path is None:
                result = train_model(rc, run_path=None, and_viz=True)
            else:  # a sweep job: a line when done; sweep.objective may add a backtest
                from knowit.sweeps.objective import train_for_objective

                result = train_for_objective(rc, run_path, and_viz=True, epoch_lines=False)
    except KnowItInterrupted as err:
        if run_path is not None:
            raise  # stops the sweep; its plan shows the jobs left
        print(f"knowit: {err}", file=sys.stderr)
        sys.exit(130)
    except KnowItError as err:
        if _DEBUG or run_path is not None:
            raise
        print(f"knowit: error: {err}", file=sys.stderr)
        sys.exit(2)
    if result.status == "worker":  # a DDP worker process: rank 0 reports
        return None
    if run_path is not None:  # a sweep job: run_job prints its one line
        metric = rc.root.optimized_metric
        return result.metric(metric) if metric else None
    from knowit.commands.common import print_result

    return print_result(result, rc.root.optimized_metric)


@hydra.main(config_path="pkg://knowit.conf", config_name="config", version_base="1.3")
def _hydra_entry(cfg: DictConfig) -> Any:
    return _job(cfg)


def run_hydra(argv: list[str], *, debug: bool = False) -> int:
    global _DEBUG
    _DEBUG = debug
    saved = sys.argv
    sys.argv = ["knowit train", *argv]
    try:
        _hydra_entry()
    finally:
        sys.argv = saved
    return 0

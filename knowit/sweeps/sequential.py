"""``KI.sweep``: a grid run job after job in this process, laid out like a CLI multirun.

Every job's config is composed and checked before the first one trains; a job that fails is
recorded (its error in the summary) and the sweep goes on.
"""
from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from knowit.sweeps.summary import SweepSummary

log = logging.getLogger("knowit")


def run_sweep(
    ki: Any,
    model_name: str,
    kwargs: Mapping[str, Any] | None,
    grid: Mapping[str, Iterable[Any]],
    *,
    overrides: Sequence[str] = (),
    overwrite: bool = False,
    and_viz: bool = False,
    progress_bar: bool | None = None,
    resume: bool = False,
) -> SweepSummary:
    from knowit.orchestrator import plan
    from knowit.sweeps.grid import grid_overrides
    from knowit.sweeps.guard import sweep_dir
    from knowit.sweeps.plan import jobs_to_resume, start_sweep
    from knowit.sweeps.summary import summarize_sweep

    jobs = grid_overrides(grid)
    configs = [ki.config(model_name, kwargs, overrides=[*overrides, *job], overwrite=overwrite) for job in jobs]
    for cfg in configs:
        plan(cfg)
    folder = sweep_dir(configs[0])
    if resume:  # only the planned jobs that never finished
        todo = [number for number, _ in jobs_to_resume(folder, jobs)]
    else:
        start_sweep(folder, jobs=jobs, overwrite=overwrite, door="api")
        todo = list(range(len(jobs)))
    for number in todo:
        log.info("sweep %s: job %d/%d: %s", model_name, number + 1, len(jobs), " ".join(jobs[number]))
        train_job(folder, number, jobs[number], configs[number], total=len(jobs), and_viz=and_viz, progress_bar=progress_bar)
    return summarize_sweep(folder, metric=configs[0].root.optimized_metric)


def train_job(folder: Path, number: int, job: list[str], cfg: Any, *, total: int | None = None, swept: Collection[str] | None = None,
              and_viz: bool = True, progress_bar: bool | None = None, reraise: bool = False) -> tuple[Any, str | None]:
    """Job ``number`` of a sweep (its validated config ``cfg``, from the overrides ``job``) trained
    into ``<folder>/<number>``: the one job step of every door's sweep loop (``KI.sweep``, a CLI
    grid, ``sweep resume``). Returns the run's result, or the failure's one line (see ``run_job``)."""
    from knowit.sweeps.guard import run_job

    path = folder / str(number)
    return run_job(path, job=number, overrides=job, optimized_metric=cfg.root.optimized_metric, total=total, swept=swept,
                   reraise=reraise, train=lambda: _train(cfg, path, and_viz, progress_bar))


def _train(cfg: Any, path: Any, and_viz: bool, progress_bar: bool | None) -> Any:
    from knowit.errors import os_errors_as_run_errors
    from knowit.sweeps.guard import job_config
    from knowit.sweeps.objective import train_for_objective

    with os_errors_as_run_errors():
        return train_for_objective(job_config(cfg), path, and_viz=and_viz, progress_bar=progress_bar, epoch_lines=False)

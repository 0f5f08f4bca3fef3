"""``python -m knowit train [overrides ...] [-m]``: one run, or a sweep.

Each run and each job of a plain grid is composed and validated once (the API's path: the
compose API on ``knowit.conf``, then ``validate``) and trained in this process: a single run
with no Hydra flags, and a grid (``-m a=1,2``) with no Hydra flags or ``hydra*`` overrides, whose
jobs are all composed and checked before the first one trains. What needs Hydra's machinery (a
search sweeper: ``hparams_search=``, ``key=interval(..)``; a launcher: ``hydra/launcher=joblib``;
any ``hydra.*`` override or Hydra flag) goes to ``@hydra.main`` (knowit/commands/hydra_app.py):
Hydra composes every job itself where its launcher runs it (maybe another process or machine),
so there each job is checked here first and validated again where it runs.
"""
from __future__ import annotations

import datetime as _dt

from knowit.commands.common import debug_wanted, guard

HELP = "train a model: python -m knowit train [data=...] [arch=...] [key=value ...] [-m for a sweep]"
MAX_PREVALIDATED_JOBS = 256  # composing one job's config takes ~10 ms

TRAIN_HELP = """usage: python -m knowit train [overrides ...] [-m] [--debug]

Train a model from the config groups data/, arch/ and trainer/ (see conf/ or `python -m knowit train --cfg job`).

examples:
  python -m knowit train
  python -m knowit train data=synth_classification arch.width=64 trainer.max_epochs=5
  python -m knowit train model_name=my_lstm overwrite=true
  python -m knowit train -m arch.width=16,32      (a sweep: one run directory per job)

Hydra's own flags (--cfg job, --info, hydra/launcher=joblib, ...) work as usual.
"""


def configure(parser) -> None:  # arguments are Hydra overrides, parsed by train_from_args
    pass


def run(ns) -> int:  # pragma: no cover - knowit.cli.main routes "train" before argparse
    return train_from_args([])


def train_from_args(args: list[str]) -> int:
    debug = debug_wanted(args)
    args = [a for a in args if a != "--debug"]
    if any(a in ("-h", "--help") for a in args):
        print(TRAIN_HELP)
        return 0
    overrides = [a for a in args if not a.startswith("-")]
    flags = [a for a in args if a.startswith("-")]
    # A search config (hparams_search=...) sets hydra.mode=MULTIRUN itself.
    multirun = any(a in ("-m", "--multirun") for a in args) or any(o.split("=", 1)[0] == "hparams_search" for o in overrides)
    if not multirun and not flags and not any(o.startswith("hydra") for o in overrides):
        return guard(lambda: _train_here(overrides, debug), debug)
    if multirun and not any(o.split("=", 1)[0].lstrip("+") == "model_name" for o in overrides):
        overrides.append("model_name=sweep_" + _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f"))
    if multirun and _plain_grid(flags, overrides):
        return guard(lambda: _sweep_here(overrides, debug), debug)
    code = guard(lambda: _check_jobs(overrides, multirun), debug)
    if code:
        return code
    from knowit.commands.hydra_app import run_hydra
    from knowit.config.compose import normalize_overrides

    try:
        return run_hydra([*flags, *normalize_overrides(overrides)], debug=debug)
    except KeyboardInterrupt:  # Ctrl-C outside training (Lightning handles it inside)
        import sys

        from knowit.commands.common import EXIT_INTERRUPTED

        print("knowit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _train_here(overrides: list[str], debug: bool) -> int:
    """A single run: compose, validate and train once, logging to stdout as Hydra's job would."""
    import logging
    import sys

    from knowit.commands.common import print_result
    from knowit.config.compose import compose
    from knowit.config.run_config import validate
    from knowit.errors import os_errors_as_run_errors
    from knowit.orchestrator import train_model

    from knowit.config.resume import from_resumed_run, override_keys

    cfg = validate(from_resumed_run(compose(overrides), override_keys(overrides)))  # trainer.resume: the run's own config
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    with os_errors_as_run_errors():
        result = train_model(cfg, run_path=None, and_viz=True)
    if result.status != "worker":  # a DDP worker process: rank 0 reports
        print_result(result, None)
    return 0


def _plain_grid(flags: list[str], overrides: list[str]) -> bool:
    """A grid that needs nothing of Hydra's: no Hydra flag, no ``hydra*`` override, no search."""
    from knowit.sweeps.grid import interval_overrides

    return (all(f in ("-m", "--multirun") for f in flags) and not any(o.startswith("hydra") for o in overrides)
            and not any(o.split("=", 1)[0].lstrip("+") == "hparams_search" for o in overrides)
            and not interval_overrides(overrides))


def _sweep_here(overrides: list[str], debug: bool) -> int:
    """A plain grid in this process: every job composed and validated once (all of them before
    the first trains), then trained one after another into ``<exp_dir>/sweeps/<model_name>/<n>``,
    the same layout, job lines and summary as a Hydra multirun."""
    import logging
    import sys

    from knowit.commands.common import EXIT_INTERRUPTED
    from knowit.config.compose import compose
    from knowit.config.run_config import validate
    from knowit.errors import KnowItError, KnowItInterrupted
    from knowit.orchestrator import plan
    from knowit.sweeps.grid import expand_grid, swept_keys
    from knowit.sweeps.guard import sweep_dir
    from knowit.sweeps.plan import start_sweep
    from knowit.sweeps.sequential import train_job
    from knowit.sweeps.summary import summarize_sweep

    jobs = expand_grid(overrides)
    configs = [validate(compose(job)) for job in jobs]
    for cfg in configs:
        plan(cfg)
    folder = sweep_dir(configs[0])
    start_sweep(folder, jobs=jobs, overwrite=configs[0].root.overwrite)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    swept = swept_keys(overrides)
    for number, (job, cfg) in enumerate(zip(jobs, configs)):
        try:
            _, error = train_job(folder, number, job, cfg, total=len(jobs), swept=swept, reraise=debug)
        except KnowItInterrupted as err:
            print(f"knowit: job {number}: {err} (the sweep stopped; python -m knowit sweep resume {folder} "
                  "runs the jobs it did not finish)", file=sys.stderr)
            return EXIT_INTERRUPTED
        if error:
            print(f"knowit: error: job {number}: {error}", file=sys.stderr)
    try:
        print("\n" + summarize_sweep(folder, metric=configs[0].root.optimized_metric).format())
    except (KnowItError, OSError) as err:  # as the Hydra callback: the jobs ran, only the summary is missing
        print(f"knowit: sweep summary not written: {err}", file=sys.stderr)
    return 0


def _check_jobs(overrides: list[str], multirun: bool) -> int:
    """Compose and check every job of a grid (up to a limit) before Hydra starts the first,
    so a typo or an impossible value fails now, not after hours of sweeping."""
    from knowit.config.compose import compose
    from knowit.config.run_config import validate
    from knowit.orchestrator import plan
    from knowit.sweeps.grid import sweep_jobs

    own = [o for o in overrides if not o.startswith("hydra")]
    hydra_own = [o for o in overrides if o.startswith("hydra")]
    check_hydra_dirs(hydra_own)
    jobs, direction = sweep_jobs(own, hydra_own) if multirun else ([own], None)
    for number, job in enumerate(jobs[:MAX_PREVALIDATED_JOBS]):
        # Hydra's own settings (launcher, sweeper) are checked once, with the first job.
        cfg = validate(compose(job + (hydra_own if number == 0 else [])))
        plan(cfg)
    if multirun:
        from knowit.sweeps.grid import expand_grid
        from knowit.sweeps.guard import check_direction, hydra_sweep_dir
        from knowit.sweeps.plan import start_sweep

        check_direction(direction, cfg.root.optimized_metric)
        grid = expand_grid(own)  # a search's trials are chosen as it runs: no fixed plan of jobs
        start_sweep(hydra_sweep_dir(cfg, hydra_own), jobs=grid if grid == jobs else None, overwrite=cfg.root.overwrite)
    return 0


def check_hydra_dirs(hydra_overrides: list[str]) -> None:
    """Hydra creates ``hydra.run.dir`` before the job starts, yet knowit never writes there: a
    path given to it would only leave empty folders outside the experiment directory."""
    from knowit.errors import KnowItConfigError

    for item in hydra_overrides:
        if item.split("=", 1)[0].lstrip("+~") == "hydra.run.dir":
            raise KnowItConfigError("hydra.run.dir: knowit writes a run to <exp_dir>/models/<model_name>, not to Hydra's run folder; "
                                    "set exp_dir= or model_name= instead")

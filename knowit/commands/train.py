"""``python -m knowit train [overrides ...] [-m]``: one run, or a sweep through Hydra.

A single run with no Hydra flags is composed and validated once (the API's path: the compose
API on ``knowit.conf``, then ``validate``) and trained in this process. Sweeps (``-m``,
``hparams_search=``) and runs with Hydra's own flags or ``hydra.*`` overrides go to
``@hydra.main`` (knowit/commands/hydra_app.py), after every job of the grid was checked here.
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

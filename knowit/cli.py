"""The command-line door: ``python -m knowit <command>`` (also the ``knowit`` console script).

``train`` hands its overrides to Hydra (``@hydra.main`` on ``knowit.conf``), so everything Hydra
offers works, multirun (``-m``) included. Errors caused by the user's input print one line and
exit with code 2 (no traceback unless ``--debug`` or ``HYDRA_FULL_ERROR=1``).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import os
import sys
from collections.abc import Callable, Sequence

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C (128 + SIGINT)
MAX_PREVALIDATED_JOBS = 256  # composing one job's config takes ~10 ms

# Subcommands live in knowit/commands/<name>.py, each with HELP, configure(parser) and run(ns).
# Their modules import nothing heavy at the top, so `--help` stays fast.
COMMANDS = ("train", "predict", "evaluate", "viz", "interpret", "sweep", "import", "datasets", "archs")


def _debug_wanted(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("HYDRA_FULL_ERROR") == "1"


def fail(message: str) -> int:
    print(f"knowit: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _guard(fn: Callable[[], int], debug: bool) -> int:
    """Run a command; knowit's own errors become one line and exit code 2."""
    from knowit.errors import KnowItError, KnowItInterrupted

    try:
        return fn()
    except KnowItInterrupted as err:
        print(f"knowit: {err}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KnowItError as err:
        if debug:
            raise
        return fail(str(err))
    except KeyboardInterrupt:
        print("knowit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _command(name: str):
    return importlib.import_module(f"knowit.commands.{name}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="knowit",
        description="Config-driven deep-learning experiments on sequences (LSTM, CNN-LSTM, ConvLSTM1D).",
        epilog="Run 'python -m knowit train --help' for the training options. Add --debug for full tracebacks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="command")
    for name in COMMANDS:
        command = _command(name)
        command.configure(sub.add_parser(name, help=command.HELP, description=command.HELP, add_help=name != "train"))
    return parser


def add_exp_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp-dir", default=None, help="experiment directory (default: $KNOWIT_EXP_DIR or ./knowit_exp)")


def add_arch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", default=None, help="the module of a run trained with your own architecture "
                        "(e.g. my_pkg.my_arch); loading runs its code, so a run folder never chooses it for you")


TRAIN_HELP = """usage: python -m knowit train [overrides ...] [-m] [--debug]

Train a model from the config groups data/, arch/ and trainer/ (see conf/ or `python -m knowit train --cfg job`).

examples:
  python -m knowit train
  python -m knowit train data=synth_classification arch.width=64 trainer.max_epochs=5
  python -m knowit train model_name=my_lstm overwrite=true
  python -m knowit train -m arch.width=16,32      (a sweep: one run directory per job)

Hydra's own flags (--cfg job, --info, hydra/launcher=joblib, ...) work as usual.
"""


def check_hydra_dirs(hydra_overrides: list[str]) -> None:
    """Hydra creates ``hydra.run.dir`` before the job starts, yet knowit never writes there: a
    path given to it would only leave empty folders outside the experiment directory."""
    from knowit.errors import KnowItConfigError

    for item in hydra_overrides:
        if item.split("=", 1)[0].lstrip("+~") == "hydra.run.dir":
            raise KnowItConfigError("hydra.run.dir: knowit writes a run to <exp_dir>/models/<model_name>, not to Hydra's run folder; "
                                    "set exp_dir= or model_name= instead")


def cmd_train(args: list[str]) -> int:
    debug = _debug_wanted(args)
    args = [a for a in args if a != "--debug"]
    if any(a in ("-h", "--help") for a in args):
        print(TRAIN_HELP)
        return 0
    from knowit.config.compose import normalize_overrides

    overrides = [a for a in args if not a.startswith("-")]
    # A search config (hparams_search=...) sets hydra.mode=MULTIRUN itself.
    multirun = any(a in ("-m", "--multirun") for a in args) or any(o.split("=", 1)[0] == "hparams_search" for o in overrides)
    if multirun and not any(o.split("=", 1)[0].lstrip("+") == "model_name" for o in overrides):
        overrides.append("model_name=sweep_" + _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f"))

    def prevalidate() -> int:
        # Compose and check every job of a grid (up to a limit) before Hydra starts the first,
        # so a typo or an impossible value fails now, not after hours of sweeping.
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
            grid = expand_grid(own)
            start_sweep(hydra_sweep_dir(cfg, hydra_own), jobs=grid if grid == jobs else None, overwrite=cfg.root.overwrite)
        return 0

    code = _guard(prevalidate, debug)
    if code:
        return code
    from knowit.hydra_app import run_hydra

    flags = [a for a in args if a.startswith("-")]
    try:
        return run_hydra([*flags, *normalize_overrides(overrides)], debug=debug)
    except KeyboardInterrupt:  # Ctrl-C outside training (Lightning handles it inside)
        print("knowit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train":
        return cmd_train(argv[1:])
    if any(a.startswith("hydra.job.name=train_ddp_process_") for a in argv):
        return cmd_train(argv)  # a DDP worker: Lightning re-runs this program with the Hydra overrides only
    parser = _parser()
    ns = parser.parse_args([a for a in argv if a != "--debug"])
    if ns.command is None:
        parser.print_help()
        return 0
    return _guard(lambda: _command(ns.command).run(ns), _debug_wanted(argv))


if __name__ == "__main__":
    sys.exit(main())

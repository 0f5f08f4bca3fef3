"""The command-line door: ``python -m knowit <command>`` (also the ``knowit`` console script).

Each subcommand is a module of ``knowit.commands`` with ``HELP``, ``configure(parser)`` and
``run(namespace) -> exit code``; what they share lives in ``knowit.commands.common``. Imports go
one way: this module loads the commands, no command imports this module. ``train`` takes Hydra
overrides rather than argparse options (see knowit/commands/train.py). Errors caused by the
user's input print one line and exit with code 2 (no traceback unless ``--debug`` or
``HYDRA_FULL_ERROR=1``).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence

from knowit.commands.common import debug_wanted, guard

# command name -> module under knowit/commands (modules import nothing heavy at the top, so
# `--help` stays fast; `import` is a keyword, hence import_data.py).
COMMANDS = {"train": "train", "predict": "predict", "evaluate": "evaluate", "viz": "viz", "interpret": "interpret", "compare": "compare", "backtest": "backtest",
            "sweep": "sweep", "import": "import_data", "datasets": "datasets", "archs": "archs"}


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_default_formatwarning = warnings.formatwarning


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """knowit's own warnings read as one line for the user (no source path, no code line);
    other libraries' warnings keep Python's format, so their origin stays visible."""
    if os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep):
        return f"knowit: warning: {message}\n"
    return _default_formatwarning(message, category, filename, lineno, line)


def _command(name: str):
    return importlib.import_module(f"knowit.commands.{COMMANDS[name]}")


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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not debug_wanted(argv):
        warnings.formatwarning = _format_warning
    if argv and argv[0] == "train":
        return _command("train").train_from_args(argv[1:])
    if any(a.startswith("hydra.job.name=train_ddp_process_") for a in argv):
        # a DDP worker of a run under Hydra: Lightning re-runs this program with the Hydra overrides only
        return _command("train").train_from_args(argv)
    parser = _parser()
    ns = parser.parse_args([a for a in argv if a != "--debug"])
    if ns.command is None:
        parser.print_help()
        return 0
    return guard(lambda: _command(ns.command).run(ns), debug_wanted(argv))


if __name__ == "__main__":
    sys.exit(main())

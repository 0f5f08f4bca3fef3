"""What the CLI's command modules share: exit codes, the error line, common options, printing.

It imports nothing from ``knowit.cli`` or the command modules, so every command can use it
without an import cycle (``knowit.cli`` loads the commands, never the other way round).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C (128 + SIGINT)


def debug_wanted(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("HYDRA_FULL_ERROR") == "1"


def fail(message: str) -> int:
    print(f"knowit: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def add_exp_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp-dir", default=None, help="experiment directory (default: $KNOWIT_EXP_DIR or ./knowit_exp)")


def add_arch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", default=None, help="the module of a run trained with your own architecture "
                        "(e.g. my_pkg.my_arch); loading runs its code, so a run folder never chooses it for you")


def format_metrics(metrics: dict[str, float]) -> str:
    if not metrics:
        return "  (no metrics)"
    width = max(len(k) for k in metrics)
    return "\n".join(f"  {k:<{width}}  {v:.6g}" for k, v in sorted(metrics.items()))


def print_summary(summary: dict) -> None:
    """One ``key: value`` line per entry; long lists are shortened."""
    for key, value in summary.items():
        if key == "slices" or value in (None, "", [], {}):
            continue
        if isinstance(value, list) and len(value) > 12:
            value = f"{value[:12]} ... ({len(value)} in all)"
        print(f"  {key}: {value}")


def guard(fn: Callable[[], int], debug: bool) -> int:
    """Run a command; knowit's own errors become one line and exit code 2."""
    from knowit.errors import KnowItError, KnowItInterrupted

    try:
        return fn()
    except KnowItInterrupted as err:  # a run stopped by Ctrl-C: where it stopped and how to resume
        print(f"knowit: {err}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KnowItError as err:
        if debug:
            raise
        return fail(str(err))
    except KeyboardInterrupt:
        print("knowit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def print_result(result, optimized_metric: str | None) -> float | None:
    """The lines a finished training run prints; returns the optimised metric's value."""
    print(f"\nrun directory: {result.run_dir}\nstatus: {result.status}\nparameters: {result.n_parameters:,}\n{format_metrics(result.metrics)}")
    if result.baselines:
        from knowit.comparison.baselines import format_baselines

        print(format_baselines(result.baselines))
    if result.intervals:
        from knowit.comparison.repeats import format_intervals

        print(format_intervals(result.intervals))
    return result.metric(optimized_metric) if optimized_metric else None

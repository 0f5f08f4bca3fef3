"""What every workload shares: the result row, medians of repeats, machine facts."""
from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Result:
    """One measured comparison. ``ratio`` is oriented so that higher is better for knowit."""

    workload: str
    measure: str  # what the two numbers are, with units
    knowit: float
    baseline: float
    ratio: float
    target: str  # e.g. ">= 0.90"
    met: bool
    notes: str = ""


def at_least(workload: str, measure: str, knowit: float, baseline: float, target: float, notes: str = "") -> Result:
    """A higher-is-better comparison: ratio = knowit / baseline, met when ratio >= target."""
    ratio = knowit / baseline
    return Result(workload, measure, knowit, baseline, ratio, f">= {target:g}", ratio >= target, notes)


def at_most(workload: str, measure: str, knowit: float, baseline: float, target: float, notes: str = "") -> Result:
    """A lower-is-better comparison: ratio = knowit / baseline, met when ratio < target."""
    ratio = knowit / baseline
    return Result(workload, measure, knowit, baseline, ratio, f"< {target:g}", ratio < target, notes)


def explained(result: Result, shortfall: str) -> Result:
    """Append the recorded reason for a missed target to the result's notes (RESULTS.md shows it)."""
    if not result.met:
        result.notes += "; " + shortfall
    return result


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(a: Callable[[], Any], b: Callable[[], Any], rounds: int) -> tuple[float, float]:
    """Median wall seconds of ``a()`` and of ``b()``, timed in alternation so that a slow spell of a
    shared machine hits both sides alike."""
    pairs = [(_timed(a), _timed(b)) for _ in range(rounds)]
    return statistics.median(x for x, _ in pairs), statistics.median(y for _, y in pairs)


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def machine() -> dict[str, str]:
    """Facts that make a result comparable: CPU count, threads, versions."""
    import numpy
    import pytorch_lightning
    import torch

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "pytorch-lightning": pytorch_lightning.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available",
    }

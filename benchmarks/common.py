"""What every workload shares: the result row, interleaved rounds, machine facts.

Methodology (every ratio in RESULTS.md): knowit and its baseline are measured in alternation,
``knowit, baseline, knowit, baseline, ...`` for at least ``MIN_ROUNDS`` rounds in one process, so
a slow spell of this shared machine hits both sides alike. The ratio is the median of the
per-round ratios; each side's median and min-max are printed next to it, with the 1-minute load
average seen at each round (other jobs on the machine move every absolute number).

A workload adds a row in three lines::

    rounds = alternate(rate(knowit_fn, work), rate(baseline_fn, work), n_rounds)
    return [compare("name", "what/s", rounds, 0.95, "sizes")]

``knowit_fn``/``baseline_fn`` do the work once; ``rate`` turns one call into work per second.
A side that measures itself (a training run reporting samples/s) is passed as a function that
returns that number.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MIN_ROUNDS = 5  # the least rounds a full (non-smoke) run takes per ratio


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
    rounds: int = 1
    knowit_range: list[float] = field(default_factory=list)  # [min, max] over rounds
    baseline_range: list[float] = field(default_factory=list)
    ratio_range: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  # [min, max] 1-minute load average while measured
    per_round: list[float] = field(default_factory=list)  # every round's ratio, in order: runs can be pooled


@dataclass
class Rounds:
    """Paired measurements taken in alternation; ``load`` is the 1-minute load average at each
    round's start."""

    knowit: list[float]
    baseline: list[float]
    load: list[float]

    @property
    def ratios(self) -> list[float]:
        return [k / b for k, b in zip(self.knowit, self.baseline)]


def load_average() -> float:
    """The machine's 1-minute load average (what ``uptime`` prints first)."""
    return os.getloadavg()[0]


def alternate(knowit: Callable[[], float], baseline: Callable[[], float], rounds: int) -> Rounds:
    """Call ``knowit()``, ``baseline()``, ``knowit()``, ... ``rounds`` times each; each call
    returns its side's measure for that round."""
    return alternate_many(knowit, [baseline], rounds)[0]


def alternate_many(knowit: Callable[[], float], baselines: list[Callable[[], float]], rounds: int) -> list[Rounds]:
    """``alternate`` against several baselines: each round calls ``knowit()`` then every baseline
    in turn; one ``Rounds`` per baseline, all sharing knowit's measures."""
    shared: list[float] = []
    load: list[float] = []
    out = [Rounds(shared, [], load) for _ in baselines]
    for _ in range(rounds):
        load.append(load_average())
        shared.append(float(knowit()))
        for rounds_of, baseline in zip(out, baselines):
            rounds_of.baseline.append(float(baseline()))
    return out


def rate(fn: Callable[[], Any], work: float) -> Callable[[], float]:
    """A measure for ``alternate``: ``work`` units per wall second of one ``fn()`` call."""

    def measure() -> float:
        start = time.perf_counter()
        fn()
        return work / (time.perf_counter() - start)

    return measure


def compare(workload: str, measure: str, rounds: Rounds, target: float, notes: str = "", *, lower_is_better: bool = False) -> Result:
    """The row for paired rounds: medians of each side, the median per-round ratio (knowit /
    baseline) and the min-max of all three. ``lower_is_better`` flips the target to ``<``."""
    ratios = rounds.ratios
    ratio = statistics.median(ratios)
    met = ratio < target if lower_is_better else ratio >= target
    return Result(
        workload, measure, statistics.median(rounds.knowit), statistics.median(rounds.baseline), ratio,
        f"{'<' if lower_is_better else '>='} {target:g}", met, notes, len(ratios),
        _span(rounds.knowit), _span(rounds.baseline), _span(ratios), _span(rounds.load), ratios,
    )


def _span(values: list[float]) -> list[float]:
    return [min(values), max(values)] if values else []


def at_least(workload: str, measure: str, knowit: float, baseline: float, target: float, notes: str = "") -> Result:
    """A single higher-is-better comparison (not timed: sizes, counts): ratio = knowit / baseline."""
    ratio = knowit / baseline
    return Result(workload, measure, knowit, baseline, ratio, f">= {target:g}", ratio >= target, notes, load=_span([load_average()]))


def at_most(workload: str, measure: str, knowit: float, baseline: float, target: float, notes: str = "") -> Result:
    """A single lower-is-better comparison (not timed: memory): ratio = knowit / baseline, met when < target."""
    ratio = knowit / baseline
    return Result(workload, measure, knowit, baseline, ratio, f"< {target:g}", ratio < target, notes, load=_span([load_average()]))


def explained(result: Result, shortfall: str) -> Result:
    """Append the recorded reason for a missed target to the result's notes (RESULTS.md shows it)."""
    if not result.met:
        result.notes += "; " + shortfall
    return result


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` calls (absolute timings, no baseline)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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

"""``trainer.compile``: which architectures train faster compiled (informational rows, no target).

Each architecture as shipped (``zoo_bench.ARCHS``, and a two-layer LSTM of width 64) trains
through knowit twice per round, ``trainer.compile=true`` (inductor) against the default eager
model, on the zoo workload's series; on a CUDA machine both sides train on the GPU. The measure
is training samples/s of epochs 2-3 (train + validation wall), so the first epoch's compilation
(and its recompiles for the last, shorter batch and for evaluation) is left out: the ratio is
the steady speed a long run gets. The one-off time of a whole compiled run is in the notes.

Every run is a fresh process with the parent's torch thread count: a compiled model's kernels
bring their own OpenMP pool and inductor its compile workers, and neither may slow the next
(eager) run in the same process.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import Result, alternate, compare
from benchmarks.zoo_bench import ARCHS, FULL, SMOKE

LSTM = {"name": "lstm", "width": 64, "depth": 2, "dropout": 0.0}
SMOKE_ARCH = {"name": "mlp", "depth": 1, "width": 8, "dropout": 0.0}

ONE_RUN = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from benchmarks.lstm_train import _knowit_rate, make_series
size, arch, accelerator, trainer = (json.loads(a) for a in sys.argv[2:])
print(json.dumps(_knowit_rate(make_series(size["steps"]), size, arch=arch, accelerator=accelerator, trainer=trainer)))
"""


def _run(size: dict, arch: dict, accelerator: str, trainer: dict) -> float:
    args = [str(torch.get_num_threads()), *(json.dumps(a) for a in (size, arch, accelerator, trainer))]
    proc = subprocess.run([sys.executable, "-c", ONE_RUN, *args], cwd=Path(__file__).parents[1], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"compile_bench run {arch['name']} {trainer} failed:\n{proc.stderr[-4000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def run(smoke: bool, rounds: int) -> list[Result]:
    size = SMOKE if smoke else FULL
    accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    # the smoke run checks the plumbing with the no-op backend: inductor compiles for minutes
    compiled = {"compile": "eager" if smoke else True}
    archs = [SMOKE_ARCH] if smoke else [LSTM, *({"name": name, **args} for name, args in ARCHS.items())]
    results = []
    for arch in archs:
        whole: list[float] = []

        def with_compile() -> float:
            start = time.perf_counter()
            rate = _run(size, arch, accelerator, compiled)
            whole.append(time.perf_counter() - start)
            return rate

        measured = alternate(with_compile, lambda: _run(size, arch, accelerator, {}), rounds)
        results.append(compare(
            f"trainer.compile: {arch['name']}", f"training samples/s on {accelerator}, compiled vs eager (epochs 2-3)", measured, 0.0,
            f"informational; {size['steps']} steps x 4, window 32, batch 64, {size['epochs']} epochs, {torch.get_num_threads()} torch "
            f"threads, each run a fresh process; a whole compiled run took {min(whole):.0f}-{max(whole):.0f} s (process start and "
            "compilation included; inductor's cache is warm after the first)",
        ))
    return results

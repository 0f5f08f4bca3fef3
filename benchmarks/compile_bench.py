"""``trainer.compile``: which architectures train faster compiled (informational rows, no target).

Each architecture as shipped (``zoo_bench.ARCHS``, and the LSTM of ``lstm_train``'s zoo size)
trains through knowit twice per round, ``trainer.compile=true`` (inductor) against the default
eager model, on the zoo workload's series; on a CUDA machine both sides train on the GPU. The
measure is training samples/s of epochs 2-3 (train + validation wall), so the first epoch's
compilation (and its recompiles for the last, shorter batch and for evaluation) is left out:
the ratio is the steady speed a long run gets. The one-off compile time is in the notes.
"""
from __future__ import annotations

import time

import torch

from benchmarks.common import Result, alternate, compare
from benchmarks.lstm_train import _knowit_rate, make_series
from benchmarks.zoo_bench import ARCHS, FULL, SMOKE

LSTM = {"name": "lstm", "width": 64, "depth": 2, "dropout": 0.0}


def run(smoke: bool, rounds: int) -> list[Result]:
    size = SMOKE if smoke else FULL
    frame = make_series(size["steps"])
    accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    # the smoke run checks the plumbing with the no-op backend: inductor compiles for minutes
    compiled = {"compile": "eager" if smoke else True}
    archs = {"mlp": {"depth": 1, "width": 8, "dropout": 0.0}} if smoke else {"lstm": LSTM, **{name: {"name": name} for name in ARCHS}}
    results = []
    for name, arch in archs.items():
        arch = {"name": name, **arch}
        first: list[float] = []

        def with_compile() -> float:
            start = time.perf_counter()
            rate = _knowit_rate(frame, size, arch=arch, accelerator=accelerator, trainer=compiled)
            first.append(time.perf_counter() - start)
            return rate

        measured = alternate(with_compile, lambda: _knowit_rate(frame, size, arch=arch, accelerator=accelerator), rounds)
        results.append(compare(
            f"trainer.compile: {name}", f"training samples/s on {accelerator}, compiled vs eager (epochs 2-3)", measured, 0.0,
            f"informational; {size['steps']} steps x 4, window 32, batch 64, {size['epochs']} epochs, {torch.get_num_threads()} torch "
            f"threads; a whole compiled run took {min(first):.0f}-{max(first):.0f} s (compilation included, the inductor cache warm after the first)",
        ))
    return results

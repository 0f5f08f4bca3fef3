"""The GPU path: the LSTM workload of ``lstm_train`` with ``accelerator=gpu``, against the same
hand-written loop on the GPU, and bf16-mixed against 32-bit through knowit. Runs only where CUDA
is available; elsewhere it returns no rows and RESULTS.md says the GPU path was not measured."""
from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import torch

from benchmarks.common import Result, at_least
from benchmarks.lstm_train import FULL, SMOKE, _knowit_samples_per_s, _raw_samples_per_s, make_series


def available() -> bool:
    return torch.cuda.is_available()


def run(smoke: bool, repeats: int) -> list[Result]:
    if not available():
        return []
    size = SMOKE if smoke else FULL
    frame = make_series(size["steps"])
    rates: dict[str, list[float]] = {"knowit32": [], "knowit_bf16": [], "raw": []}
    for _ in range(repeats):
        for key, precision in (("knowit32", "32"), ("knowit_bf16", "bf16-mixed")):
            with tempfile.TemporaryDirectory() as tmp:
                rates[key].append(_knowit_samples_per_s(frame, size, Path(tmp), accelerator="gpu", precision=precision)[0])
        rates["raw"].append(_raw_samples_per_s(frame, size, device="cuda"))
    median = {k: statistics.median(v) for k, v in rates.items()}
    device = torch.cuda.get_device_name(0)
    return [
        at_least("GPU: LSTM regression training", f"training samples/s on {device}, 32-bit", median["knowit32"], median["raw"], 0.90,
                 "the lstm_train workload with accelerator=gpu; baseline: the same hand-written loop with tensors on the GPU"),
        at_least("GPU: bf16-mixed vs 32-bit", f"knowit training samples/s on {device}, bf16-mixed vs 32-bit", median["knowit_bf16"], median["knowit32"], 0.0,
                 "informational: the speed-up of trainer.precision=bf16-mixed for this small LSTM"),
    ]

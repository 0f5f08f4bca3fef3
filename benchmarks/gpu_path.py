"""The GPU path: the LSTM workload of ``lstm_train`` with ``accelerator=gpu``, against the same
hand-written loop on the GPU, and bf16-mixed against 32-bit through knowit. Runs only where CUDA
is available; elsewhere it returns no rows and RESULTS.md says the GPU path was not measured."""
from __future__ import annotations

import torch

from benchmarks.common import Result, alternate, compare
from benchmarks.lstm_train import FULL, SMOKE, _knowit_rate, _raw_samples_per_s, against_both_loops, make_series


def available() -> bool:
    return torch.cuda.is_available()


def run(smoke: bool, rounds: int) -> list[Result]:
    if not available():
        return []
    size = SMOKE if smoke else FULL
    frame = make_series(size["steps"])
    device = torch.cuda.get_device_name(0)
    knowit32 = lambda: _knowit_rate(frame, size, accelerator="gpu", precision="32")  # noqa: E731
    bf16 = lambda: _knowit_rate(frame, size, accelerator="gpu", precision="bf16-mixed")  # noqa: E731
    return [
        *against_both_loops(
            "GPU: LSTM regression training", knowit32, lambda **kw: _raw_samples_per_s(frame, size, device="cuda", **kw), rounds, 0.95,
            "the lstm_train workload with accelerator=gpu; baseline: the same plain nn.LSTM + Linear loop with tensors on the GPU "
            "(on CUDA torch's default Adam is its foreach implementation)",
            measure=f"training samples/s on {device}, 32-bit",
        ),
        compare("GPU: bf16-mixed vs 32-bit", f"knowit training samples/s on {device}, bf16-mixed vs 32-bit",
                alternate(bf16, knowit32, rounds), 0.0,
                "informational: the speed-up of trainer.precision=bf16-mixed for this small LSTM"),
    ]

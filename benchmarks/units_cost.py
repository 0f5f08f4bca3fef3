"""What metrics in original units cost: knowit's LSTM training throughput with regression
metrics de-scaled every epoch (targets z-normalised, ``scaling_tag: full``, the default) vs the
same run with unscaled targets (``scaling_tag: in_only``), where no de-scaling happens.

Both sides are knowit, so the ratio isolates the de-scaling (one affine op per buffered block of
batches); a ratio near 1.0 means the original-units metrics of issue 20 cost no throughput.
"""
from __future__ import annotations

from benchmarks.common import Result, alternate, compare
from benchmarks.lstm_train import _knowit_rate, make_series

FULL = {"steps": 20_000, "width": 64, "depth": 1, "epochs": 3}
SMOKE = {"steps": 1_500, "width": 8, "depth": 1, "epochs": 2}


def run(smoke: bool, rounds: int) -> list[Result]:
    size = SMOKE if smoke else FULL
    frame = make_series(size["steps"])
    measured = alternate(lambda: _knowit_rate(frame, size, data={"scaling_tag": "full"}),
                         lambda: _knowit_rate(frame, size, data={"scaling_tag": "in_only"}), rounds)
    return [compare(
        "Metrics in original units: cost", "training samples/s, de-scaled metrics (scaling_tag full) vs none (in_only)",
        measured, 0.97,
        f"{size['steps']} steps x 4, LSTM width {size['width']}, depth {size['depth']}, both sides knowit; "
        "the baseline side trains on unscaled targets, so its metrics need no de-scaling",
    )]

"""What metrics in original units cost: knowit's LSTM training throughput with its regression
metrics de-scaled every epoch (the default) vs the very same run with the de-scaling switched off
(metrics in scaled units, as before issue 20).

Both sides are knowit on z-normalised targets; the baseline side patches ``EpochMetrics`` in this
process so that it skips the one affine op per buffered block of batches. A ratio near 1.0 means
the original-units metrics cost no throughput.
"""
from __future__ import annotations

from benchmarks.common import Result, alternate, compare
from benchmarks.lstm_train import _knowit_rate, make_series

FULL = {"steps": 20_000, "width": 64, "depth": 1, "epochs": 3}
SMOKE = {"steps": 1_500, "width": 8, "depth": 1, "epochs": 2}


def _without_descaling(run):
    """``run()`` with every ``EpochMetrics`` built in it left in scaled units."""
    from knowit.training import metrics

    original = metrics.EpochMetrics.__init__

    def scaled_units(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.descale = False

    metrics.EpochMetrics.__init__ = scaled_units
    try:
        return run()
    finally:
        metrics.EpochMetrics.__init__ = original


def run(smoke: bool, rounds: int) -> list[Result]:
    size = SMOKE if smoke else FULL
    frame = make_series(size["steps"])
    measured = alternate(lambda: _knowit_rate(frame, size),
                         lambda: _without_descaling(lambda: _knowit_rate(frame, size)), rounds)
    return [compare(
        "Metrics in original units: cost", "training samples/s, metrics de-scaled (default) vs left scaled (patched off)",
        measured, 0.97,
        f"{size['steps']} steps x 4, LSTM width {size['width']}, depth {size['depth']}, z-normalised targets on both sides; "
        "both sides knowit, the baseline with EpochMetrics' de-scaling switched off in-process",
    )]

"""Stateful LSTM demo: a target that depends on far more history than the input window.

The series: ``x`` is white noise and ``y`` an exponential moving average of ``x`` with a
time constant of 50 steps, so most of what ``y`` depends on lies far outside an 8-step input
window. Two LSTMs see the same 8-step windows in the same contiguous batches; one carries its
states from batch to batch (``internal_state.tracking``), the other starts every window from zeros.

    python experiments/lstm_tracking/run.py [--smoke] [--exp-dir DIR]
"""
from __future__ import annotations

import argparse
import json
import tempfile

import numpy as np
import pandas as pd

from knowit import KnowIt


def make_frame(steps: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(steps)
    y = np.empty(steps)
    acc = 0.0
    for t, v in enumerate(x):  # EMA with time constant 50
        acc += (v - acc) / 50.0
        y[t] = acc
    return pd.DataFrame({"time": np.arange(steps, dtype=float), "x": x, "y": y})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for a quick check")
    parser.add_argument("--exp-dir", default=None)
    args = parser.parse_args()
    steps, epochs = (3000, 2) if args.smoke else (30000, 15)
    ki = KnowIt(args.exp_dir or tempfile.mkdtemp(prefix="knowit_tracking_"))
    if "ema" not in ki.available_datasets():
        ki.import_dataset({"data_import": {"raw_data": make_frame(steps), "meta": {"name": "ema", "time_column": "time"}}})
    results = {}
    for tracking in (False, True):
        name = "tracking" if tracking else "no_tracking"
        result = ki.train_model(name, {
            "data": {"name": "ema", "in_components": ["x"], "out_components": ["y"], "in_chunk": [-7, 0], "out_chunk": [0, 0],
                     "batch_size": 16, "batch_sampling": "contiguous", "split_portions": [0.6, 0.2, 0.2]},
            "arch": {"name": "lstm", "width": 16, "dropout": 0.0, "internal_state": {"tracking": tracking}},
            "trainer": {"max_epochs": epochs, "learning_rate": 0.01, "accelerator": "cpu"},
        }, safe_mode=False)
        results[name] = {k: round(v, 5) for k, v in sorted(result.metrics.items())}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

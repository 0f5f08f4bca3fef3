"""A sweep and its summary: LSTM width x learning rate on the built-in regression series.

The same grid from the command line is one line:
    python -m knowit train -m arch.width=16,64 trainer.learning_rate=1e-3,1e-2 model_name=lstm_sweep
This script runs it through the Python API (``KI.sweep``) and prints the summary table; the sweep
directory holds sweep_summary.csv/.json, sweep_valid_loss_scaled.png and a ``best`` link.

    python experiments/lstm_sweep/run.py [--smoke] [--exp-dir DIR]
"""
from __future__ import annotations

import argparse
import tempfile

from knowit import KnowIt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for a quick check")
    parser.add_argument("--exp-dir", default=None)
    args = parser.parse_args()
    ki = KnowIt(args.exp_dir or tempfile.mkdtemp(prefix="knowit_sweep_"))
    trainer = {"max_epochs": 1, "limit_train_batches": 3, "limit_val_batches": 2, "limit_test_batches": 2} if args.smoke else {"max_epochs": 8}
    kwargs = {"data": {"name": "synth_regression"}, "arch": {"name": "lstm", "dropout": 0.1},
              "trainer": {**trainer, "accelerator": "cpu"}}
    grid = {"arch.width": [16, 64], "trainer.learning_rate": [1e-3, 1e-2]}
    summary = ki.sweep("lstm_sweep", kwargs, grid, overwrite=True)
    print(summary.format())


if __name__ == "__main__":
    main()

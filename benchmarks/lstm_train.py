"""LSTM regression: training throughput through ``KnowIt.train_model`` vs a hand-written loop.

The baseline is the plainest loop a user writes: ``nn.LSTM`` + ``nn.Linear`` on the last step's
output, pre-materialised (and pre-scaled) window tensors indexed with ``randperm`` batches, Adam,
and a validation pass every epoch. knowit trains its own LSTM (the same ``nn.LSTM`` stack and
linear head on the last hidden state, dropout 0) at the same batch size on the same
z-normalised series, gathering windows on the fly. Throughput is training samples per second of
epoch wall time (training + validation), median over the epochs from the second on (the first
warms caches and allocators). The two sides alternate run by run (``benchmarks.common``).
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.common import Result, alternate_many, compare

FULL = {"steps": 50_000, "width": 128, "depth": 2, "epochs": 3}
SMOKE = {"steps": 1_500, "width": 8, "depth": 1, "epochs": 2}
WINDOW, BATCH, COMPONENTS = 32, 64, ["x1", "x2", "x3", "x4"]
PORTIONS = [0.8, 0.1, 0.1]


# knowit's data config: x1..x4 windows of WINDOW rows predict x1 one step after the window.
DATA = {
    "name": "bench", "task": "regression", "in_components": COMPONENTS, "out_components": ["x1"],
    "in_chunk": [-(WINDOW - 1), 0], "out_chunk": [1, 1], "split_portions": PORTIONS,
    "batch_size": BATCH, "scaling_tag": "full",
}


def knowit_sets(frame: pd.DataFrame) -> tuple[torch.Tensor, ...]:
    """``train_x, train_y, val_x, val_y``: every window and target of knowit's own training and
    validation sets (same points, same scaling), materialised once for a baseline (not timed)."""
    from knowit.config.schema import DataConfig
    from knowit.config.validate import build
    from knowit.data.importing import import_frame
    from knowit.data.prepared import prepare_dataset
    from knowit.data.store import DatasetStore

    with tempfile.TemporaryDirectory() as tmp:
        store = DatasetStore(Path(tmp))
        import_frame(store, frame, {"name": "bench", "time_column": "time"})
        prepared = prepare_dataset(build(DataConfig, DATA, "data"), store, seed=0)
        out = []
        for name in ("train", "valid"):
            batch = prepared.batch(torch.as_tensor(prepared.set_points(name)))
            out += [batch["x"].clone(), batch["y"].clone()]  # own memory: the store's files go with tmp
        return tuple(out)


def make_series(steps: int, seed: int = 0) -> pd.DataFrame:
    """Four coupled noisy oscillators; the task is to predict x1 one step ahead."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps, dtype=np.float64)
    base = np.stack([np.sin(t / p) for p in (7.0, 13.0, 29.0, 61.0)], axis=1)
    values = base + 0.1 * rng.standard_normal(base.shape)
    frame = pd.DataFrame(values.astype(np.float32), columns=COMPONENTS)
    frame.insert(0, "time", t)
    return frame


def _knowit_samples_per_s(frame: pd.DataFrame, size: dict, exp_dir: Path, *, accelerator: str = "cpu", precision: str = "32",
                          arch: dict | None = None, data: dict | None = None, trainer: dict | None = None) -> tuple[float, int]:
    """knowit's training throughput; ``arch`` (default: the LSTM of ``size``) is the arch config,
    ``data`` and ``trainer`` override keys of theirs."""
    from knowit import KnowIt
    from knowit.data.importing import import_frame
    from knowit.data.store import DatasetStore
    from knowit.training.callbacks import read_history

    import_frame(DatasetStore(exp_dir), frame, {"name": "bench", "time_column": "time"})
    ki = KnowIt(exp_dir)
    result = ki.train_model(
        "bench",
        {
            "data": {**DATA, **(data or {})},
            "arch": arch or {"name": "lstm", "width": size["width"], "depth": size["depth"], "dropout": 0.0},
            "trainer": {"max_epochs": size["epochs"], "learning_rate": 1e-3, "accelerator": accelerator, "precision": precision,
                        "early_stopping": {"enabled": False}, **(trainer or {})},
        },
        safe_mode=False,
    )
    history = read_history(result.run_dir / "metrics.csv")
    n_train = _n_train_points(result.run_dir)
    epoch_time = statistics.median(row["epoch_time"] for row in history[1:])
    return n_train / epoch_time, n_train


def _n_train_points(run_dir: Path) -> int:
    import json

    summary = json.loads((run_dir / "summary.json").read_text())
    return int(summary["data"]["n_points"]["train"])


class PlainLSTM(torch.nn.Module):
    """``nn.LSTM`` + ``nn.Linear`` on the last step's output: the baseline's model."""

    def __init__(self, n_in: int, width: int, depth: int):
        super().__init__()
        self.lstm = torch.nn.LSTM(n_in, width, depth, batch_first=True)
        self.head = torch.nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1]).unsqueeze(1)  # (B, 1, 1): one step of x1


def _raw_samples_per_s(frame: pd.DataFrame, size: dict, *, device: str = "cpu", make_model=None,
                       sets: tuple[torch.Tensor, ...] | None = None, fused: bool = False) -> float:
    """The loop a user writes by hand: materialised windows, randperm batches, Adam (tensors and
    model on ``device``). ``make_model()`` builds the model (default: ``PlainLSTM`` of ``size``);
    ``sets`` (``knowit_sets``) gives it knowit's very windows, else it cuts its own. ``fused``
    gives Adam the fused update knowit uses (like-for-like); torch's default is the loop."""
    if sets is not None:
        train_x, train_y, val_x, val_y = sets
    else:
        values = frame[COMPONENTS].to_numpy(np.float32)
        n_train_rows = int(len(values) * PORTIONS[0])
        mean, std = values[:n_train_rows].mean(0), values[:n_train_rows].std(0)
        scaled = torch.from_numpy((values - mean) / std)
        windows = scaled.unfold(0, WINDOW, 1).transpose(1, 2).contiguous()  # (n, WINDOW, C), copied
        targets = scaled[WINDOW:, :1].unsqueeze(1)  # x1 one step after each window's last row
        windows = windows[: len(targets)]
        n_val = int(len(values) * PORTIONS[1])
        train_x, train_y = windows[: n_train_rows - WINDOW], targets[: n_train_rows - WINDOW]
        val_x, val_y = windows[n_train_rows : n_train_rows + n_val], targets[n_train_rows : n_train_rows + n_val]

    train_x, train_y, val_x, val_y = (t.to(device) for t in (train_x, train_y, val_x, val_y))
    torch.manual_seed(0)
    model = (make_model() if make_model else PlainLSTM(len(COMPONENTS), size["width"], size["depth"])).to(device)
    optim = torch.optim.Adam(model.parameters(), lr=1e-3, **({"fused": True} if fused else {}))
    times = []
    for _ in range(size["epochs"]):
        start = time.perf_counter()
        model.train()
        for idx in torch.randperm(len(train_x), device=device).split(BATCH):
            optim.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(model(train_x[idx]), train_y[idx])
            loss.backward()
            optim.step()
        model.eval()
        with torch.no_grad():
            for start_row in range(0, len(val_x), BATCH):
                torch.nn.functional.mse_loss(model(val_x[start_row : start_row + BATCH]), val_y[start_row : start_row + BATCH])
        if device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return len(train_x) / statistics.median(times[1:])


def against_both_loops(workload: str, knowit, loop, rounds: int, target: float, notes: str,
                       measure: str = "training samples/s (train + validation epoch wall)") -> list[Result]:
    """Two rows: knowit against ``loop()``, the hand-written loop with ``torch.optim.Adam`` as a
    user writes it (torch's default implementation; knowit takes the fused one), and against
    ``loop(fused=True)``, like-for-like: what knowit adds around the same optimiser step. The
    three sides alternate in every round."""
    by_hand, like_for_like = alternate_many(knowit, [loop, lambda: loop(fused=True)], rounds)
    return [
        compare(workload, measure, by_hand, target,
                f"{notes}; the loop's Adam as a user writes it (torch's default implementation), knowit's fused"),
        compare(f"{workload}, like-for-like optimiser", "the same, both sides fused Adam", like_for_like, target,
                f"{notes}; fused Adam on both sides: what knowit adds around the same optimiser step"),
    ]


def _knowit_rate(frame: pd.DataFrame, size: dict, **kw) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        return _knowit_samples_per_s(frame, size, Path(tmp), **kw)[0]


def run(smoke: bool, rounds: int) -> list[Result]:
    size = SMOKE if smoke else FULL
    frame = make_series(size["steps"])
    return against_both_loops(
        "LSTM regression training", lambda: _knowit_rate(frame, size), lambda **kw: _raw_samples_per_s(frame, size, **kw), rounds, 0.95,
        f"{size['steps']} steps x 4, window {WINDOW}, width {size['width']}, depth {size['depth']}, batch {BATCH}; "
        "baseline: nn.LSTM + Linear on pre-materialised windows",
    )

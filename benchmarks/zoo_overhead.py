"""Diagnostic (not a RESULTS.md workload): where a zoo arch's gap to the plain loop comes from.

    python -m benchmarks.zoo_overhead ARCH [--steps 10000] [--rounds 3]

Three sides around the very same ``knowit.default_archs.<ARCH>.Model`` (``zoo_bench.ARCHS``
sizes) on knowit's very windows (``lstm_train.knowit_sets``), interleaved round by round: the
plain loop of ``lstm_train``, a bare Lightning loop (a minimal ``LightningModule``,
``TensorDataset`` loaders, no callbacks, checkpoints or loggers) and knowit. The measure is
training samples per CPU-second of an epoch (train + validation, median of epochs 2-3) with one
torch thread: every epoch timer reads ``time.process_time``, so a shared machine's load moves it
far less than wall time (it still moves it: caches and cores are shared).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.zoo_overhead")
    parser.add_argument("arch")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(1)
    time.perf_counter = time.process_time  # knowit's EpochHistory and the plain loop both read it

    from benchmarks import zoo_bench
    from benchmarks.lstm_train import BATCH, _knowit_rate, _raw_samples_per_s, knowit_sets, make_series

    size = {"steps": args.steps, "epochs": 3}
    frame = make_series(args.steps)
    sets = knowit_sets(frame)
    arch_args = zoo_bench.ARCHS[args.arch]
    make = zoo_bench._builder(args.arch, arch_args)

    class Bare(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = make()

        def training_step(self, batch, _):
            return torch.nn.functional.mse_loss(self.model(batch[0]), batch[1])

        def validation_step(self, batch, _):
            torch.nn.functional.mse_loss(self.model(batch[0]), batch[1])

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    class EpochCPU(pl.Callback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_train_epoch_start(self, trainer, module) -> None:
            self.start = time.process_time()

        def on_train_epoch_end(self, trainer, module) -> None:
            self.times.append(time.process_time() - self.start)

    def bare() -> float:
        train_x, train_y, val_x, val_y = sets
        torch.manual_seed(0)
        timer = EpochCPU()
        pl.Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, num_sanity_val_steps=0, callbacks=[timer]).fit(
            Bare(), DataLoader(TensorDataset(train_x, train_y), batch_size=BATCH, shuffle=True),
            DataLoader(TensorDataset(val_x, val_y), batch_size=BATCH))
        return len(train_x) / statistics.median(timer.times[1:])

    for r in range(args.rounds):
        plain = _raw_samples_per_s(frame, size, make_model=make, sets=sets)
        lightning = bare()
        knowit = _knowit_rate(frame, size, arch={"name": args.arch, **arch_args})
        print(f"{args.arch} round {r}: samples per CPU-s  plain {plain:.0f}  bare Lightning {lightning:.0f} ({lightning / plain:.3f})  "
              f"knowit {knowit:.0f} ({knowit / plain:.3f}, {knowit / lightning:.3f} of bare Lightning)  load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()

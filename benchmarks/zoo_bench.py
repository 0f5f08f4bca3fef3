"""The new architectures (MLP, CNN, TCN, transformer, TFT): training throughput through
``KnowIt.train_model`` vs a hand-written loop around the same ``nn.Module``.

Same series, windows, batch size, optimiser and epoch timing as ``benchmarks/lstm_train.py``;
the baseline builds the very ``Model`` class knowit trains (``knowit.default_archs.<name>``, the
shipped default arguments on both sides) and runs the plain loop over pre-materialised windows: knowit's own training
and validation windows (``knowit_sets``), so both sides train on the same samples per epoch and
validate on the same set. Two rows per architecture: against the loop as a user writes it
(``torch.optim.Adam`` with torch's default implementation; knowit takes the fused one), and
like-for-like (the loop with fused Adam too), which measures only what knowit adds around a model
(data gathering, metrics, callbacks, checkpoints, Lightning's loop).
"""
from __future__ import annotations

import importlib

from benchmarks.common import Result
from benchmarks.lstm_train import COMPONENTS, WINDOW, BATCH, _knowit_rate, _raw_samples_per_s, against_both_loops, knowit_sets, make_series

FULL = {"steps": 10_000, "epochs": 3}
SMOKE = {"steps": 1_500, "epochs": 2}
# Each architecture as shipped (its ArchArgs defaults = conf/arch/<name>.yaml), as `arch=<name>`
# gives it to a user; the baseline builds the same Model with the same arguments.
ARCHS: dict[str, dict] = {name: {} for name in ("mlp", "cnn", "tcn", "transformer", "tft")}
SMOKE_ARCHS = {"mlp": {"depth": 1, "width": 8, "dropout": 0.0}}  # the harness's check, not a measurement


def _builder(name: str, args: dict):
    module = importlib.import_module(f"knowit.default_archs.{name}")

    def make():
        return module.Model([WINDOW, len(COMPONENTS)], [1, 1], "regression", args)

    return make


def run(smoke: bool, rounds: int) -> list[Result]:
    size = SMOKE if smoke else FULL
    frame = make_series(size["steps"])
    sets = knowit_sets(frame)  # the baseline trains and validates on knowit's very windows
    results = []
    for name, args in (SMOKE_ARCHS if smoke else ARCHS).items():
        make = _builder(name, args)
        results += against_both_loops(
            f"{name} regression training", lambda: _knowit_rate(frame, size, arch={"name": name, **args}),
            lambda **kw: _raw_samples_per_s(frame, size, make_model=make, sets=sets, **kw), rounds, 0.9,
            f"{size['steps']} steps x 4, window {WINDOW}, batch {BATCH}, {args or 'shipped defaults'}; baseline: the same "
            f"knowit.default_archs.{name}.Model in a plain loop over pre-materialised windows",
        )
    return results

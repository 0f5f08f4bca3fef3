"""In-process loaders gather several batches at once: every batch is the one a DataLoader would
serve for the same sampler item (values, order, reset masks), on every kind of data."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from knowit.config.schema import DataConfig
from knowit.data.datamodule import GatheredBatches, KnowItDataModule


def _one_at_a_time(loader: GatheredBatches) -> list[dict[str, torch.Tensor]]:
    """What ``DataLoader(dataset, sampler=..., batch_size=None)`` serves: one item, one gather."""
    return list(DataLoader(loader.dataset, sampler=loader.sampler, batch_size=None))


def _assert_same_batches(loader: GatheredBatches) -> int:
    assert isinstance(loader, GatheredBatches) and loader.per_gather == GatheredBatches.MAX_PER_GATHER  # small batches
    loader.per_gather = next(k for k in (3, 4, 5, 7) if len(loader) % k)  # several gathers, the last one short
    gathered, single = list(loader), _one_at_a_time(loader)
    assert len(gathered) == len(single) == len(loader) > loader.per_gather
    for got, want in zip(gathered, single):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key].dtype == want[key].dtype
            torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)
    return len(gathered)


@pytest.mark.parametrize("overrides", [
    {},  # shuffled points
    {"batch_sampling": "contiguous"},  # streams with reset masks
    {"padding": "zeros", "shuffle_train": False},  # padded windows with their input mask
])
def test_series_batches_gathered_together_equal_those_gathered_one_by_one(exp_dir, overrides):
    dm = KnowItDataModule(DataConfig(name="synth_regression", batch_size=8, **overrides), exp_dir, seed=2)
    for loader in (dm.train_dataloader(), dm.val_dataloader()):
        _assert_same_batches(loader)
    if overrides.get("batch_sampling") == "contiguous":
        assert any(b["reset"].any() for b in dm.train_dataloader()) and not all(b["reset"].all() for b in dm.train_dataloader())


def test_array_batches_gathered_together_equal_those_gathered_one_by_one(ki, exp_dir):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((60, 3, 2, 4)).astype(np.float32), rng.choice(["a", "b"], 60)
    ki.import_dataset({"data_import": {"raw_data": {"x": x, "y": y}, "meta": {"name": "arr"}}})
    dm = KnowItDataModule(DataConfig(name="arr", task="classification", batch_size=3), exp_dir, seed=0)
    dm.train_dataloader().sampler.set_epoch(1)  # another epoch's order through the same path Lightning takes
    assert _assert_same_batches(dm.train_dataloader()) == -(-len(dm.prepared.set_points("train")) // 3)


def test_a_large_batch_is_gathered_alone_and_workers_keep_the_dataloader(exp_dir):
    big = KnowItDataModule(DataConfig(name="synth_regression", batch_size=4096, in_chunk=[-63, 0]), exp_dir, seed=0)
    assert big.train_dataloader().per_gather == 1  # a block beyond GATHER_BYTES buys nothing
    workers = KnowItDataModule(DataConfig(name="synth_regression", num_workers=1), exp_dir, seed=0)
    assert isinstance(workers.train_dataloader(), DataLoader)

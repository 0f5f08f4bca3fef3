"""Training on a series larger than RAM: block shuffling keeps an epoch's reads in long runs, and
the chronological split finds its cut times without an array of every point's time."""
from __future__ import annotations

import numpy as np
import pytest

from knowit.config.compose import compose
from knowit.config.run_config import validate
from knowit.data.sampling import POOL_BLOCKS, PointBatchSampler, random_reads_warning
from knowit.data.series import SeriesData
from knowit.data.splitting import _point_times_at, split_points
from knowit.data.store import DatasetStore
from knowit.data.windows import WindowSpec, point_ranges
from knowit.errors import KnowItConfigError


def _epoch(n: int, batch: int, block: int | None, epoch: int = 0, **kw) -> list[np.ndarray]:
    sampler = PointBatchSampler(n, batch, shuffle=True, seed=5, block=block, **kw)
    sampler.set_epoch(epoch)
    return list(sampler)


def test_block_shuffle_serves_every_point_once_reading_few_blocks_at_a_time():
    n, batch, block = 20_000, 32, 25
    batches = _epoch(n, batch, block)
    served = np.concatenate(batches)
    assert sorted(served.tolist()) == list(range(n))
    assert [len(b) for b in batches[:-1]] == [batch] * (len(batches) - 1) and len(batches) == -(-n // batch)
    # Each pool's points come from POOL_BLOCKS blocks: what the epoch reads at a time is that many
    # runs of consecutive rows, not points spread over the whole series (a random disk read each).
    pool = POOL_BLOCKS * block
    for start in range(0, n - pool, pool):
        assert len(np.unique(served[start:start + pool] // block)) == POOL_BLOCKS
    everywhere = np.concatenate(_epoch(n, batch, None))[:pool] // block
    assert len(np.unique(everywhere)) > 4 * POOL_BLOCKS  # point shuffling touches blocks all over
    # ...and a batch still mixes many places of the series
    assert np.median([len(np.unique(b // block)) for b in batches]) >= 16


def test_block_shuffle_is_seeded_per_epoch_and_shards_across_processes():
    n, batch, block = 5_003, 16, 7
    first, again, second = _epoch(n, batch, block, 0), _epoch(n, batch, block, 0), _epoch(n, batch, block, 1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again)) and len(first) == len(again)
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))
    shards = [_epoch(n, batch, block, 0, rank=r, world=2) for r in (0, 1)]
    assert sorted(np.concatenate(shards[0] + shards[1]).tolist()) == list(range(n))
    assert [b.tolist() for b in shards[0]] == [b.tolist() for b in first[0::2]]
    even = [_epoch(n, batch, block, 0, rank=r, world=2, even=True) for r in (0, 1)]
    assert len(even[0]) == len(even[1]) and all(len(b) == batch for b in even[0] + even[1])
    tiny = [_epoch(3, batch, block, 0, rank=r, world=2, even=True) for r in (0, 1)]  # padding: fewer points than processes' batches
    assert [b.tolist() for b in tiny[1]] == [b.tolist() for b in tiny[0]]


def test_a_series_larger_than_memory_shuffled_point_by_point_is_warned_about():
    gib = 2**30
    (warning,) = random_reads_warning(30 * gib, 24 * gib, shuffled=True, block=None)
    assert warning.startswith("data.shuffle_block: the series (30.0 GiB) is larger than this machine's memory (24.0 GiB)")
    assert random_reads_warning(30 * gib, 24 * gib, shuffled=True, block=65536) == []
    assert random_reads_warning(30 * gib, 24 * gib, shuffled=False, block=None) == []
    assert random_reads_warning(20 * gib, 24 * gib, shuffled=True, block=None) == []


def test_point_shuffling_is_unchanged_without_a_block():
    order = np.arange(1000, dtype=np.int32)
    np.random.default_rng(5).shuffle(order)
    assert np.array_equal(np.concatenate(_epoch(1000, 64, None)), order)


def test_shuffle_block_reaches_the_training_loader_only(exp_dir):
    cfg = validate(compose(["data.shuffle_block=9", "data.batch_size=16"], exp_dir=exp_dir))
    assert cfg.data.shuffle_block == 9
    from knowit.data.datamodule import KnowItDataModule

    dm = KnowItDataModule(cfg.data, exp_dir, seed=0)
    train, valid = dm.train_dataloader(), dm.val_dataloader()
    assert train.sampler.block == 9
    served = np.concatenate([b["point"].numpy() for b in train])
    assert sorted(served.tolist()) == sorted(dm.prepared.set_points("train").tolist())
    assert [b["point"].tolist() for b in valid] == [b.tolist() for b in np.array_split(
        dm.prepared.set_points("valid"), range(16, len(dm.prepared.set_points("valid")), 16))]


@pytest.mark.parametrize("override", ["data.batch_sampling=contiguous", "data.shuffle_train=false"])
def test_shuffle_block_without_shuffled_batches_is_refused(exp_dir, override):
    with pytest.raises(KnowItConfigError, match=r"data\.shuffle_block: .*batch_sampling=random and shuffle_train=true"):
        validate(compose(["data.shuffle_block=64", override], exp_dir=exp_dir))


def _series(times: np.ndarray, instance_of_row: np.ndarray, instances: list[str]) -> SeriesData:
    values = np.zeros((len(times), 1), dtype=np.float32)
    return SeriesData.from_rows(name="s", components=["a"], values=values, times=times.astype(np.float64),
                                instance_of_row=instance_of_row, instances=instances, time_delta=1.0)


@pytest.mark.parametrize("layout", ["one instance with gaps", "two instances at the same times"])
def test_chronological_cut_times_equal_the_sorted_point_times(layout):
    if layout == "one instance with gaps":
        times = np.concatenate([np.arange(0, 50), np.arange(60, 61), np.arange(70, 140), np.arange(200, 233)])
        data = _series(times, np.full(len(times), "a"), ["a"])
    else:  # rows of instance b come after a's in the store but overlap them in time
        times = np.concatenate([np.arange(0, 80), np.arange(30, 100)])
        data = _series(times, np.repeat(["a", "b"], [80, 70]), ["a", "b"])
    spec = WindowSpec((-4, 0), (1, 1))
    first, counts = point_ranges(data.slices, spec)
    everything = np.sort(np.concatenate([data.times[f:f + c] for f, c in zip(first, counts) if c]))
    ks = [0, 17, len(everything) // 2, len(everything) - 1]
    assert _point_times_at(data.times, first, counts, ks) == [float(everything[k]) for k in ks]
    sets = split_points(data, first, counts, spec, "chronological", [0.6, 0.2, 0.2], seed=0)
    assert all(rows.dtype == np.int32 for rows in sets.values())
    cut = everything[int(round(0.6 * len(everything)))]
    assert data.times[sets["train"]].max() < cut <= data.times[sets["valid"]].min()


def test_a_series_with_shuffle_block_trains(ki):
    result = ki.train_model("blocks", {"data": {"shuffle_block": 32, "batch_size": 16},
                                       "trainer": {"max_epochs": 1, "limit_train_batches": 3, "limit_val_batches": 2,
                                                   "limit_test_batches": 2, "accelerator": "cpu"}})
    assert result.status == "completed"

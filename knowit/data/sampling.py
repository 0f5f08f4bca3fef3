"""Batch samplers: which points make up each batch, in which order.

``PointBatchSampler`` serves a set's points ``batch_size`` at a time, reshuffled every epoch
with ``seed + epoch`` (so a run resumed at an epoch boundary sees the batches an uninterrupted
run would). With ``block`` (``data.shuffle_block``) it shuffles blocks of that many consecutive
points instead of single points, and mixes the points of ``POOL_BLOCKS`` blocks at a time: the
rows an epoch reads are then read in long runs, a pool at a time, which is what a memory-mapped
series larger than RAM needs (shuffling every point makes each window a random disk read). ``ContiguousBatchSampler`` serves stateful models (LSTM ``tracking``): the set is
cut into ``batch_size`` streams, row ``i`` of every batch continues stream ``i`` in time order,
consecutive points of a stream are ``stride`` rows apart (by default the input window length,
so windows tile the stream and a carried state never re-reads a row), and each batch carries a
``reset`` mask, True where a row starts its stream or jumps (a gap, a slice or an instance
boundary). Both yield arrays of positions into the set; the contiguous one yields
``(positions, reset)``.

Distributed (DDP): process ``rank`` of ``world`` serves its own shard and no point is served by
two processes in one epoch. Point batches are dealt round-robin (batch ``k`` goes to rank
``k % world``); contiguous batches deal whole streams (rank ``r`` walks streams
``r*n .. (r+1)*n - 1``), so every carried state stays on the process that reads its stream.
With ``even`` (training) every process gets the same number of equally sized batches, since
each step synchronises gradients: the few points that do not fill a last round are left out of
that epoch (and, for contiguous batches, a different few next epoch through the phase).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


POOL_BLOCKS = 64  # blocks whose points are mixed together when shuffling by blocks


def random_reads_warning(series_bytes: int, memory_bytes: int, *, shuffled: bool, block: int | None) -> list[str]:
    """A warning when training would shuffle single points of a mapped series larger than the
    machine's memory: each window is then a random disk read (hours per epoch instead of minutes)."""
    if not shuffled or block or series_bytes <= memory_bytes:
        return []
    return [f"data.shuffle_block: the series ({series_bytes / 2**30:.1f} GiB) is larger than this machine's memory "
            f"({memory_bytes / 2**30:.1f} GiB) and training points are shuffled one by one, so every window is a random "
            "disk read; set data.shuffle_block (e.g. 65536) to read the series in long runs"]


class PointBatchSampler(Sampler[np.ndarray]):
    """Yields arrays of positions ``0..n-1``, ``batch_size`` at a time, reshuffled each epoch
    (by single points, or by ``block`` consecutive points: see the module docstring)."""

    def __init__(self, n: int, batch_size: int, *, shuffle: bool, seed: int, rank: int = 0, world: int = 1, even: bool = False,
                 block: int | None = None):
        self.n, self.batch_size, self.shuffle, self.seed, self.block = n, batch_size, shuffle, seed, block
        # Distributed: process ``rank`` of ``world`` serves every world-th batch; ``even`` (training)
        # gives every process the same number of batches, since each step synchronises gradients.
        self.rank, self.world, self.even = rank, world, even
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[np.ndarray]:
        every = self._every_batch()
        first: np.ndarray | None = None
        made = -1  # index of the last batch taken from ``every``
        for k in self._batches():
            batch = None
            while made < k:
                batch = next(every, None)
                made += 1
                if first is None:
                    first = batch
            # Padding: fewer batches than processes in training; a process repeats the first points.
            yield batch if batch is not None else first

    def _every_batch(self) -> Iterator[np.ndarray]:
        """Every batch of the epoch in serving order (all processes' batches)."""
        dtype = np.int32 if self.n < 2**31 else np.int64  # half the memory of int64
        if not self.shuffle:
            order = np.arange(self.n)
        elif self.block:
            yield from self._batches_of(self._block_order(np.random.default_rng(self.seed + self.epoch), dtype))
            return
        else:
            order = np.arange(self.n, dtype=dtype)
            np.random.default_rng(self.seed + self.epoch).shuffle(order)
        for start in range(0, self.n, self.batch_size):
            yield order[start:start + self.batch_size]

    def _block_order(self, rng: np.random.Generator, dtype: type) -> Iterator[np.ndarray]:
        """The shuffled order a pool at a time: blocks in a random order, then the points of each
        run of POOL_BLOCKS blocks shuffled among themselves (never an array of every point)."""
        blocks = rng.permutation(-(-self.n // self.block))
        for start in range(0, len(blocks), POOL_BLOCKS):
            pool = np.concatenate([np.arange(b * self.block, min((b + 1) * self.block, self.n), dtype=dtype)
                                   for b in blocks[start:start + POOL_BLOCKS]])
            rng.shuffle(pool)
            yield pool

    def _batches_of(self, pools: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """``batch_size`` positions at a time from consecutive pools (a batch may span two)."""
        carry = np.empty(0, dtype=np.int64)
        for pool in pools:
            pool = np.concatenate([carry, pool]) if len(carry) else pool
            whole = len(pool) - len(pool) % self.batch_size
            for start in range(0, whole, self.batch_size):
                yield pool[start:start + self.batch_size]
            carry = pool[whole:]
        if len(carry):
            yield carry

    def _batches(self) -> range:
        total = (self.n + self.batch_size - 1) // self.batch_size
        if self.world == 1:
            return range(total)
        if self.even:
            total = max(self.world, total - total % self.world)
        return range(self.rank, total, self.world)

    def __len__(self) -> int:
        return len(self._batches())


class ContiguousBatchSampler(Sampler[tuple[np.ndarray, np.ndarray]]):
    """Batches whose row ``i`` walks stream ``i`` forward in time, with a per-row reset mask.

    Args:
        rows: the set's points (row numbers), in row order.
        slice_of: the slice of each point (a change of slice always resets).
        stride: rows between consecutive points of a stream.
        vary_phase: start each epoch at row offset ``epoch % stride`` (training), so every point
            is used over ``stride`` epochs; evaluation keeps offset 0.
    """

    def __init__(
        self, rows: np.ndarray, slice_of: np.ndarray, batch_size: int, *, stride: int, vary_phase: bool,
        rank: int = 0, world: int = 1, even: bool = False,
    ):
        self.rows, self.slice_of = np.asarray(rows, dtype=np.int64), np.asarray(slice_of)
        self.batch_size, self.stride, self.vary_phase = batch_size, max(1, int(stride)), vary_phase
        self.rank, self.world, self.even = rank, world, even
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _streams(self) -> np.ndarray:
        """``(n_streams, steps)`` positions into the set for this process, -1 past the end of the
        last streams (only ever a suffix of a column)."""
        phase = self.epoch % self.stride if self.vary_phase else 0
        picked = np.nonzero((self.rows - phase) % self.stride == 0)[0]
        if len(picked) == 0:  # fewer points than the stride: serve what there is
            picked = np.arange(len(self.rows))
        if self.world > 1 and self.even:
            # Every process: the same number of full batches; the remainder waits for another epoch.
            per_rank = min(self.batch_size, max(1, len(picked) // self.world))
            steps = max(1, len(picked) // (per_rank * self.world))
            # np.resize repeats points only when there are fewer points than processes (padding).
            return np.resize(picked, per_rank * self.world * steps).reshape(self.world, per_rank, steps)[self.rank]
        n_streams = min(self.batch_size * self.world, len(picked))
        steps = -(-len(picked) // n_streams)
        grid = np.full(n_streams * steps, -1, dtype=np.int64)
        grid[: len(picked)] = picked
        grid = grid.reshape(n_streams, steps)
        if self.world > 1:  # evaluation: this rank's block of streams, ragged ends allowed
            per_rank = -(-n_streams // self.world)
            grid = grid[self.rank * per_rank:(self.rank + 1) * per_rank]
            grid = grid[:, (grid >= 0).any(axis=0)]
        return grid

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        grid = self._streams()
        previous = None
        for k in range(grid.shape[1]):
            column = grid[:, k]
            column = column[column >= 0]  # only the last streams end early: always a suffix
            if previous is None:
                reset = np.ones(len(column), dtype=bool)
            else:
                before = previous[: len(column)]
                reset = (self.rows[column] - self.rows[before] != self.stride) | (self.slice_of[column] != self.slice_of[before])
            previous = column
            yield column, reset

    def __len__(self) -> int:
        return int(self._streams().shape[1])

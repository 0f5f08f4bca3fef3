"""The LightningDataModule: owns the prepared sets and serves whole batches.

Each loader draws batches of point indices from ``PointBatchSampler`` and the dataset turns a
whole index array into a batch with one gather; there is no per-sample ``__getitem__``.
Shuffling is seeded per epoch (``seed + epoch``), so a run resumed at an epoch boundary sees the
same batches as an uninterrupted one.
"""
from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from knowit.config.schema import DataConfig
from knowit.data.prepared import PreparedData, prepare_dataset
from knowit.data.set_report import describe_sets
from knowit.data.sampling import ContiguousBatchSampler, PointBatchSampler, random_reads_warning
from knowit.data.store import DatasetStore


class SetBatches(Dataset):
    """One set's points; indexing with an array of positions returns a whole batch."""

    def __init__(self, prepared: PreparedData, points: np.ndarray):
        self.prepared = prepared
        self.points = np.ascontiguousarray(points)  # no copy: sets are contiguous

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index: np.ndarray | tuple[np.ndarray, np.ndarray]) -> dict[str, torch.Tensor]:
        return self.many([index])[0]

    def many(self, indices: list[np.ndarray | tuple[np.ndarray, np.ndarray]]) -> list[dict[str, torch.Tensor]]:
        """The batches of several sampler items, gathered together: one gather and one scaling
        pass over the whole block, then each batch a view of its rows."""
        positions = [index[0] if isinstance(index, tuple) else index for index in indices]
        joined = positions[0] if len(positions) == 1 else np.concatenate(positions)
        block = self.prepared.batch(torch.from_numpy(self.points[joined]))  # numpy indexing: cheaper per batch
        parts = {key: value.split([len(p) for p in positions]) for key, value in block.items()}
        batches = [dict(zip(parts, batch)) for batch in zip(*parts.values())]
        for batch, index in zip(batches, indices):
            if isinstance(index, tuple):
                batch["reset"] = torch.from_numpy(index[1])
        return batches


class GatheredBatches:
    """A set's batches gathered in this process, ``per_gather`` sampler items at a time (one
    gather, one scaling pass): what a loader without worker processes or pinned memory does,
    minus the DataLoader's per-batch cost and most of the gather's per-call cost, a sizeable
    share of a small model's step. Lightning takes any iterable with a length; it sets the
    sampler's epoch through ``.sampler``."""

    GATHER_BYTES = 1 << 20  # a block this size stays in cache until its batches are used
    MAX_PER_GATHER = 32
    pin_memory = False
    batch_sampler = None  # as a DataLoader with batch_size=None has: Lightning looks for it

    def __init__(self, dataset: SetBatches, sampler: Any, batch_bytes: int):
        self.dataset, self.sampler = dataset, sampler
        self.per_gather = max(1, min(self.MAX_PER_GATHER, self.GATHER_BYTES // max(1, batch_bytes)))

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        items = iter(self.sampler)
        while group := list(itertools.islice(items, self.per_gather)):
            yield from self.dataset.many(group)


def _memory_bytes() -> int | None:
    """The machine's physical memory, or None where the platform does not say (Windows)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


class KnowItDataModule(pl.LightningDataModule):
    def __init__(self, cfg: DataConfig, exp_dir: str | Path, seed: int, split: Any = None):
        super().__init__()
        self.cfg = cfg
        self.seed = seed
        store = DatasetStore(exp_dir)
        self.prepared = prepare_dataset(cfg, store, seed, split)
        self.data_hash = store.content_hash(cfg.name)
        self.sets_report, self.warnings = describe_sets(self.prepared)
        memory = _memory_bytes()
        if self.prepared.spec is not None and memory:  # a series: mapped, read where the batches point
            self.warnings += random_reads_warning(
                self.prepared.data.values.nbytes, memory, shuffled=cfg.shuffle_train and cfg.batch_sampling == "random",
                block=cfg.shuffle_block,
            )

    @property
    def input_dim(self) -> list[int]:
        return self.prepared.input_dim

    @property
    def output_dim(self) -> list[int]:
        return self.prepared.output_dim

    @property
    def class_names(self) -> list[str] | None:
        return self.prepared.class_names

    @property
    def target_scaling(self) -> dict[str, list[float]] | None:
        """Shift and scale per output component that the targets were scaled with (regression),
        as plain lists: the module de-scales outputs and targets with them for its metrics."""
        scaler = self.prepared.y_scaler
        if scaler is None:
            return None
        return {"shift": [float(v) for v in scaler.shift], "scale": [float(v) for v in scaler.scale]}

    @property
    def class_weights(self) -> list[float] | None:
        return self.prepared.class_weights

    def loader(self, set_name: str, *, shuffle: bool = False) -> DataLoader | GatheredBatches:
        rows = self.prepared.set_points(set_name)
        dataset = SetBatches(self.prepared, rows)
        rank, world = self._shard()
        sampler: PointBatchSampler | ContiguousBatchSampler
        if self.cfg.batch_sampling == "contiguous":
            # Array datasets have no slices: every sample is its own stream segment.
            slice_of = self.prepared.stream_of(rows)
            stride = self.cfg.stream_stride or self.prepared.default_stream_stride
            sampler = ContiguousBatchSampler(
                rows, slice_of, self.cfg.batch_size, stride=stride, vary_phase=set_name == "train",
                rank=rank, world=world, even=set_name == "train",
            )
        else:
            sampler = PointBatchSampler(
                len(dataset), self.cfg.batch_size, shuffle=shuffle, seed=self.seed, rank=rank, world=world, even=set_name == "train",
                block=self.cfg.shuffle_block,
            )
        pin = self._pin_memory()
        if self.cfg.num_workers == 0 and not pin:
            sample_bytes = 4 * (math.prod(self.input_dim) + math.prod(self.output_dim))
            return GatheredBatches(dataset, sampler, sample_bytes * self.cfg.batch_size)
        return DataLoader(
            dataset,
            sampler=sampler,
            batch_size=None,
            num_workers=self.cfg.num_workers,
            pin_memory=pin,
            persistent_workers=self.cfg.num_workers > 0,
            # Its own generator: starting an iterator then draws no number from the global RNG,
            # whose per-epoch state (dropout) must not depend on when loaders are (re)started.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def _shard(self) -> tuple[int, int]:
        """``(rank, world)`` of this process: from the attached Trainer, else from an initialised
        ``torch.distributed`` process group, else the whole set."""
        if self.trainer is not None:
            return self.trainer.global_rank, self.trainer.world_size
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def _pin_memory(self) -> bool:
        """Page-locked batches when the model trains on CUDA (unless ``data.pin_memory`` says):
        Lightning then copies them to the GPU with ``non_blocking=True``, overlapping the copy
        with the previous step."""
        if self.cfg.pin_memory is not None:
            return self.cfg.pin_memory
        return self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=self.cfg.shuffle_train)

    def val_dataloader(self) -> DataLoader:
        return self.loader("valid")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")

    def describe(self) -> dict[str, Any]:
        p = self.prepared
        out = {
            "dataset": p.data.name,
            "input_dim": p.input_dim,
            "output_dim": p.output_dim,
            "n_points": {k: int(len(v)) for k, v in p.sets.items()},
            "content_hash": self.data_hash,
            **self.sets_report,
        }
        if p.spec is not None:  # a series: its windows read and predict named components
            out["in_components"], out["out_components"] = list(p.in_components), list(p.out_components)
            # how new rows are read back into steps (LoadedRun.predict cuts a frame at its gaps)
            d = p.data
            out["time"] = {"column": d.time_column, "format": d.time_format, "kind": d.time_kind, "freq": d.freq, "delta": d.time_delta, "tz": d.tz}
            if d.filled_gaps.get("up_to"):  # new frames' short gaps are filled the same way
                out["time"]["fill"] = {"up_to": d.filled_gaps["up_to"], "by": d.filled_gaps["by"]}
                labels = [c for c in p.in_components if c in d.categories]  # filled from the nearer side, never interpolated
                if labels:
                    out["time"]["fill"]["labels"] = labels
            if p.filled_targets:  # their targets would be rows the import made up (fill_gaps)
                out["filled_targets_left_out"] = p.filled_targets
        if p.class_names:
            out["class_names"] = p.class_names
            if p.class_weights is not None:
                out["class_weights"] = p.class_weights
        return out

"""Array datasets: whole sequences with one label or target each (no windows) (``ArrayData``).

The arrays side of the two dataset kinds (series: ``knowit.data.series``). ``x`` holds ``N``
samples of one shape: multivariate sequences ``(N, T, C)``, sequences of 1-D fields
``(N, T, rows, channels)`` or ``(N, T, channels, rows)``, or sequences of images
``(N, T, C, H, W)``. ``y`` holds class codes ``(N,)`` (the class names live in the metadata) or
regression targets ``(N, ...)``. Samples ``[0, n_given_train)`` are the train pool, the rest a
given test partition. Stored by ``knowit.data.store.DatasetStore`` as ``arrays.npz`` plus
``meta.json`` (nothing pickled); imported by ``knowit.data.importing_arrays``; prepared by
``knowit.data.prepared_arrays``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class ArrayData:
    """A stored array dataset. ``y`` is int64 codes (classification) or float32 ``(N, *target)``."""

    name: str
    task: str
    x: np.ndarray  # (N, *sample_shape) float32
    y: np.ndarray  # (N,) int64 | (N, *target_shape) float32
    n_given_train: int  # samples [0, n_given_train) are the train pool; the rest the given test set
    channel_axis: int  # axis of the channels inside one sample (x.shape[1:])
    class_names: list[str] | None = None
    description: str = ""

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], x: np.ndarray, y: np.ndarray) -> ArrayData:
        """The dataset ``meta.json`` describes, over arrays already read."""
        return cls(
            name=str(meta["name"]),
            task=meta["task"],
            x=x,
            y=y,
            n_given_train=int(meta["n_given_train"]),
            channel_axis=int(meta["channel_axis"]),
            class_names=meta.get("class_names"),
            description=meta.get("description", ""),
        )

    @property
    def n_samples(self) -> int:
        return int(self.x.shape[0])

    @property
    def has_given_test(self) -> bool:
        return self.n_given_train < self.n_samples


def array_meta(data: ArrayData) -> dict[str, Any]:
    """What ``meta.json`` holds of an array dataset (the store adds kind, name, format and hash)."""
    out: dict[str, Any] = {
        "task": data.task,
        "n_samples": data.n_samples,
        "n_given_train": data.n_given_train,
        "n_given_test": data.n_samples - data.n_given_train,
        "sample_shape": list(data.x.shape[1:]),
        "target_shape": list(data.y.shape[1:]),
        "channel_axis": data.channel_axis,
        "class_names": data.class_names,
        "description": data.description,
    }
    if data.class_names is not None:
        counts = np.bincount(data.y, minlength=len(data.class_names))
        out["class_counts"] = {c: int(k) for c, k in zip(data.class_names, counts)}
        out["class_order"] = class_order(data.y[: data.n_given_train], data.class_names)
    return out


def class_order(codes: np.ndarray, names: list[str]) -> str:
    """How the train pool's samples are ordered by class: archives often store them sorted, and a
    split in stored order would then leave whole classes out of a set."""
    if len(codes) == 0:
        return "no samples"
    starts = np.concatenate([[0], np.nonzero(codes[1:] != codes[:-1])[0] + 1])
    if len(starts) > len(names):
        return f"interleaved ({len(starts)} runs of one class in {len(codes)} samples)"
    lengths = np.diff(np.concatenate([starts, [len(codes)]]))
    runs = ", ".join(f"{names[codes[a]]} x{k}" for a, k in zip(starts, lengths))
    return f"sorted by class: {runs} (split_method=auto splits at random, stratified by class)"

"""A stored time series: rows of values grouped into contiguous slices (``SeriesData``).

The series side of the two dataset kinds (arrays: ``knowit.data.arrays``). The rows' files are
read and written by ``knowit.data.store.DatasetStore``; windows over them are prepared by
``knowit.data.prepared_series``.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from knowit.errors import KnowItDataError


@dataclass
class SeriesData:
    """A stored time series: rows of ``values`` grouped into contiguous ``slices``.

    ``slices`` is an int64 array ``(n_slices, 3)`` of (instance index, first row, length).
    ``times`` are float64: nanoseconds since the epoch for dates, else the time value itself.
    """

    name: str
    components: list[str]
    values: np.ndarray  # (n_rows, n_components) float32; loaded from the store: read-only, memory-mapped
    times: np.ndarray  # (n_rows,) float64; loaded from the store: read-only, memory-mapped
    slices: np.ndarray  # (n_slices, 3) int64
    instances: list[str]
    time_delta: float
    time_kind: str = "numeric"  # numeric | datetime | index
    categories: dict[str, list[str]] = field(default_factory=dict)  # label column -> class names (codes index them)
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # label column -> rows per class
    targets: list[str] = field(default_factory=list)
    description: str = ""
    # The calendar-aware step: a pandas frequency alias (``MS``, ``B``, ``YS-JAN``, ``h``) or None
    # when only a fixed ``time_delta`` is known. ``tz``: the zone calendar periods are read in.
    freq: str | None = None
    tz: str | None = None
    dropped_rows: dict[str, int] = field(default_factory=dict)  # of / duplicate / missing, at import
    filled_gaps: dict[str, Any] = field(default_factory=dict)  # periods / rows / longer_gaps / up_to / by (meta.fill_gaps)
    filled_runs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))  # (first row, rows) per filled gap
    ignored_columns: list[str] = field(default_factory=list)  # text columns the import left out
    time_column: str | None = None  # the imported table's time column (None: a DatetimeIndex or row numbers)
    time_format: str | None = None  # its strftime format, when the import was given one (day-first dates)
    content_hash: str = ""  # sha256 of the stored rows, times and slices (set when saved or loaded)

    @classmethod
    def from_breaks(cls, *, breaks: np.ndarray, instance_idx: np.ndarray, instances: list[str], **kw: Any) -> SeriesData:
        """Slices from a per-row break mask (``breaks[i]``: row ``i + 1`` starts a new slice)."""
        n = len(kw["times"])
        starts = np.concatenate([[0], np.nonzero(breaks)[0] + 1]).astype(np.int64)
        lengths = np.diff(np.concatenate([starts, [n]])).astype(np.int64)
        slices = np.stack([np.asarray(instance_idx)[starts], starts, lengths], axis=1).astype(np.int64).reshape(-1, 3)
        return cls(instances=instances, slices=slices, **kw)

    @classmethod
    def from_rows(cls, *, instance_of_row: np.ndarray, instances: list[str], **kw: Any) -> SeriesData:
        """Slices cut wherever the instance changes or the step differs from ``time_delta`` / ``freq``."""
        from knowit.data.frequency import slice_breaks, stored_ns

        inst_idx = _index_of(instance_of_row, instances)
        times = kw["times"]
        if kw.get("freq") is not None or kw.get("time_kind") == "datetime":
            times = stored_ns(times)
        breaks = slice_breaks(times, inst_idx, freq=kw.get("freq"), delta=kw["time_delta"], tz=kw.get("tz"))
        return cls.from_breaks(breaks=breaks, instance_idx=inst_idx, instances=instances, **kw)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], values: np.ndarray, times: np.ndarray) -> SeriesData:
        """The series ``meta.json`` describes, over rows already read (or mapped)."""
        return cls(
            name=str(meta["name"]),
            components=list(meta["components"]),
            values=values,
            times=times,
            slices=np.asarray(meta["slices"], dtype=np.int64).reshape(-1, 3),
            instances=list(meta["instances"]),
            time_delta=float(meta["time_delta"]),
            time_kind=meta.get("time_kind", "numeric"),
            categories=dict(meta.get("categories") or {}),
            class_counts=dict(meta.get("class_counts") or {}),
            targets=list(meta.get("targets") or []),
            description=meta.get("description", ""),
            freq=meta.get("freq"),
            tz=meta.get("tz"),
            dropped_rows=dict(meta.get("dropped_rows") or {}),
            filled_gaps=dict(meta.get("filled_gaps") or {}),
            filled_runs=np.asarray(meta.get("filled_runs") or [], dtype=np.int64).reshape(-1, 2),
            ignored_columns=list(meta.get("ignored_columns") or []),
            time_column=meta.get("time_column"),
            time_format=meta.get("time_format"),
            content_hash=meta.get("content_hash", ""),
        )

    @property
    def time_step(self) -> str:
        """The step in words: ``1 month``, ``1 business day``, ``1 h``."""
        from knowit.data.frequency import step_in_words

        return step_in_words(self.freq, self.time_delta, self.time_kind)

    def fingerprint(self, blocks: tuple[Iterable[np.ndarray], Iterable[np.ndarray]] | None = None) -> str:
        """sha256 over the rows, times, slices, components and class names: equal for equal data.

        The rows and times are hashed a block at a time, so a mapped series larger than RAM is
        never copied whole; ``blocks`` gives them as (row blocks, time blocks) read from elsewhere
        (a store's files), with the same digest."""
        digest = hashlib.sha256()
        for source in blocks or (_row_blocks(self.values), _row_blocks(self.times)):
            for block in source:
                digest.update(np.ascontiguousarray(block).tobytes())
        digest.update(np.ascontiguousarray(self.slices).tobytes())
        digest.update(json.dumps([self.components, self.instances, self.categories, self.freq, self.time_delta], sort_keys=True).encode())
        if len(self.filled_runs):  # which rows are made up (never targets); absent before fill_gaps, so older hashes stand
            digest.update(np.ascontiguousarray(self.filled_runs, dtype=np.int64).tobytes())
        return digest.hexdigest()

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    def component_index(self, names: list[str], key: str) -> np.ndarray:
        lookup = {c: i for i, c in enumerate(self.components)}
        missing = [n for n in names if n not in lookup]
        if missing:
            raise KnowItDataError(
                f"{key}: dataset {self.name!r} has no component {missing[0]!r}; components: {', '.join(self.components)}"
            )
        return np.array([lookup[n] for n in names], dtype=np.int64)

    def meta(self) -> dict[str, Any]:
        """What ``meta.json`` holds of a series (the store adds its format version)."""
        return {
            "kind": "series",
            "name": self.name,
            "components": self.components,
            "time_delta": self.time_delta,
            "time_kind": self.time_kind,
            "instances": self.instances,
            "slices": self.slices.tolist(),
            "n_rows": self.n_rows,
            "categories": self.categories,
            "class_counts": self.class_counts,
            "targets": self.targets,
            "description": self.description,
            "freq": self.freq,
            "tz": self.tz,
            "time_step": self.time_step,
            "dropped_rows": self.dropped_rows,
            "filled_gaps": self.filled_gaps,
            "filled_runs": self.filled_runs.tolist(),
            "ignored_columns": self.ignored_columns,
            "time_column": self.time_column,
            "time_format": self.time_format,
            "content_hash": self.content_hash or self.fingerprint(),
        }


HASH_ROWS = 1 << 20  # rows hashed at a time


def _row_blocks(array: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, max(len(array), 1), HASH_ROWS):
        yield array[start:start + HASH_ROWS]


def _index_of(values: np.ndarray, names: list[str]) -> np.ndarray:
    lookup = {n: i for i, n in enumerate(names)}
    return np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))

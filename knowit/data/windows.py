"""Prediction points and their windows, as index arithmetic over the stored rows.

A prediction point is a row ``t``; its input is rows ``t+in_chunk[0] .. t+in_chunk[1]`` and its
target rows ``t+out_chunk[0] .. t+out_chunk[1]`` (inclusive, KnowIt's convention), all inside one
slice. A batch is gathered with one vectorised index operation; no window is ever materialised
for the whole dataset.

With ``padding='zeros'`` a point only needs its own row and its target rows inside the slice;
input rows that fall outside it are gathered from a clamped index and then zeroed (after
scaling, so a pad reads as the training mean), and they never count as rows the point touches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from knowit.data.store import as_tensor
from knowit.errors import KnowItDataError


@dataclass(frozen=True)
class WindowSpec:
    in_chunk: tuple[int, int]
    out_chunk: tuple[int, int]
    padded: bool = False  # input rows outside the slice are zero-padded instead of excluding the point

    @property
    def in_offsets(self) -> np.ndarray:
        return np.arange(self.in_chunk[0], self.in_chunk[1] + 1, dtype=np.int64)

    @property
    def out_offsets(self) -> np.ndarray:
        return np.arange(self.out_chunk[0], self.out_chunk[1] + 1, dtype=np.int64)

    @property
    def lo(self) -> int:
        """Earliest row offset a point touches."""
        return min(self.in_chunk[0], self.out_chunk[0])

    @property
    def hi(self) -> int:
        """Latest row offset a point touches."""
        return max(self.in_chunk[1], self.out_chunk[1])

    @property
    def required(self) -> tuple[int, int]:
        """Offsets that must lie inside the slice: the whole window, or with padding only the
        point itself and its targets."""
        if self.padded:
            return min(0, self.out_chunk[0]), max(0, self.out_chunk[1])
        return self.lo, self.hi


def point_ranges(slices: np.ndarray, spec: WindowSpec) -> tuple[np.ndarray, np.ndarray]:
    """First prediction point (a row) and number of points of each slice.

    ``slices`` is ``(n, 3)``: instance, first row, length. A slice's points are one contiguous
    run of rows, so sets are worked out per slice and never need an array of every point.
    """
    lo, hi = spec.required
    span = hi - lo + 1
    starts, lengths = slices[:, 1], slices[:, 2]
    counts = np.clip(lengths - span + 1, 0, None).astype(np.int64)
    if int(counts.sum()) == 0:
        raise KnowItDataError(
            f"data.in_chunk/out_chunk: a window spans {span} rows but the longest slice has "
            f"{int(lengths.max()) if len(lengths) else 0}; shorten the chunks"
        )
    return (starts - lo).astype(np.int64), counts


def expand_ranges(first: np.ndarray, counts: np.ndarray, dtype: type = np.int64) -> np.ndarray:
    """The rows ``first[i] .. first[i] + counts[i] - 1`` of every range, concatenated (vectorised),
    built in ``dtype`` (int32 when the rows fit: no int64 array of every point on the way)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=dtype)
    keep = counts > 0
    first, counts = np.asarray(first, dtype=np.int64)[keep], counts[keep]
    steps = np.ones(total, dtype=dtype)
    starts_at = np.cumsum(counts) - counts
    steps[0] = first[0]
    steps[starts_at[1:]] = first[1:] - (first[:-1] + counts[:-1] - 1)
    return np.cumsum(steps, dtype=steps.dtype, out=steps)


def slice_of_rows(slices: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Index of the slice holding each row (slices are stored in row order)."""
    return np.searchsorted(slices[:, 1], rows, side="right") - 1


def touched_rows(rows: np.ndarray, slices: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last row each point's window ``[t+lo, t+hi]`` touches inside its slice."""
    s = slice_of_rows(slices, rows)
    first_row = slices[s, 1]
    last_row = first_row + slices[s, 2] - 1
    return np.maximum(rows + lo, first_row), np.minimum(rows + hi, last_row)


def window_rows(values: np.ndarray, offsets: np.ndarray, columns: slice | None = None) -> np.ndarray | None:
    """A view (no copy) of shape ``(n - L + 1, L, k)`` whose item ``r`` is the rows
    ``r .. r+L-1`` of ``values`` (``L = len(offsets)``), restricted to the column run ``columns``
    (default: every column), when ``offsets`` are consecutive; else None. Indexing it with the
    first row of each window gathers a batch straight into a contiguous ``(B, L, k)`` block: one
    pass over the rows, with no column copy after it."""
    n, length = values.shape[0], len(offsets)
    if values.ndim != 2 or length == 0 or n < length or not np.array_equal(offsets, np.arange(offsets[0], offsets[0] + length)):
        return None
    step, item = values.strides
    if item != values.itemsize or step != values.shape[1] * item:
        return None  # rows not stored contiguously: no window view
    columns = slice(0, values.shape[1]) if columns is None else columns
    width = len(range(values.shape[1])[columns])
    return np.lib.stride_tricks.as_strided(values[:, columns], shape=(n - length + 1, length, width), strides=(step, step, item), writeable=False)


class WindowGather:
    """Gather input/target windows for a batch of points from a row array (shared, not copied)."""

    def __init__(self, values: np.ndarray, spec: WindowSpec, in_idx: np.ndarray, out_idx: np.ndarray, *, classification: bool, slices: np.ndarray | None = None):
        self.values = as_tensor(values)  # shares memory with the stored (memory-mapped) array
        self.in_cols = _column_picker(in_idx, values.shape[1])
        self.out_cols = _column_picker(out_idx, values.shape[1])
        # Unpadded windows of consecutive rows lie whole in the array: numpy copies each window
        # (its column run) straight into the batch (single-threaded: no parallel region to wait
        # on when the cores are busy). Copying whole rows and then picking the columns cost a
        # second, slow pass: its inner loop is only the few picked columns long.
        rows = np.asarray(values)
        self.in_windows = None if spec.padded else window_rows(rows, spec.in_offsets, _run(self.in_cols))
        self.out_windows = None if classification else window_rows(rows, spec.out_offsets, _run(self.out_cols))
        self.padded = spec.padded
        if spec.padded:  # slice bounds, to find each point's slice with one searchsorted
            assert slices is not None
            self.slice_first = torch.from_numpy(np.ascontiguousarray(slices[:, 1]))
            self.slice_last = self.slice_first + torch.from_numpy(np.ascontiguousarray(slices[:, 2])) - 1
        self.in_offsets = torch.from_numpy(spec.in_offsets)
        self.out_offsets = torch.from_numpy(spec.out_offsets)
        self.in_first, self.out_first = int(spec.in_offsets[0]), int(spec.out_offsets[0]) if len(spec.out_offsets) else 0
        self.in_idx = torch.from_numpy(in_idx)
        self.out_idx = torch.from_numpy(out_idx)
        self.classification = classification

    def inputs(self, points: torch.Tensor) -> torch.Tensor:
        if self.in_windows is not None:
            return self._windows(self.in_windows, points.numpy() + self.in_first, self.in_cols)
        rows = points[:, None] + self.in_offsets  # (B, L_in)
        if self.padded:
            rows = torch.clamp(rows, 0, self.values.shape[0] - 1)
        return self._rows(rows, self.in_cols)

    def input_mask(self, points: torch.Tensor) -> torch.Tensor | None:
        """``(B, L_in, 1)`` float mask, 0 where an input row lies outside the point's slice."""
        if not self.padded:
            return None
        k = torch.searchsorted(self.slice_first, points, right=True) - 1
        rows = points[:, None] + self.in_offsets
        inside = (rows >= self.slice_first[k][:, None]) & (rows <= self.slice_last[k][:, None])
        return inside[..., None].to(self.values.dtype)

    def targets(self, points: torch.Tensor) -> torch.Tensor:
        if self.classification:
            return self.values[points + self.out_offsets[0], self.out_idx[0]].long()
        if self.out_windows is not None:
            return self._windows(self.out_windows, points.numpy() + self.out_first, self.out_cols)
        rows = points[:, None] + self.out_offsets
        return self._rows(rows, self.out_cols)

    def _windows(self, windows: np.ndarray, starts: np.ndarray, columns: slice | torch.Tensor) -> torch.Tensor:
        """``(B, L, C)`` from a ``window_rows`` view: a fresh contiguous block (a column run is
        already in the view; other column choices are picked from whole rows).
        Index arithmetic stays in numpy: a batch is the hot path, and a small numpy op costs a
        fraction of a torch op's dispatch."""
        block = torch.from_numpy(windows[starts])
        return block if isinstance(columns, slice) else block.index_select(2, columns)

    def _rows(self, rows: torch.Tensor, columns: slice | torch.Tensor) -> torch.Tensor:
        """``(B, L, C)`` gathered with ``index_select`` (several times faster on CPU than
        advanced indexing with a 2-D index); a contiguous column range is a cheap slice."""
        picked = self.values.index_select(0, rows.reshape(-1))
        picked = picked[:, columns] if isinstance(columns, slice) else picked.index_select(1, columns)
        return picked.reshape(*rows.shape, -1)


def _run(columns: slice | torch.Tensor) -> slice | None:
    """The column run a window view can hold (None: every column, then picked per batch)."""
    return columns if isinstance(columns, slice) else None


def _column_picker(idx: np.ndarray, n_columns: int) -> slice | torch.Tensor:
    """A slice when the columns are one ascending run (the common case), else an index tensor."""
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return torch.from_numpy(idx)

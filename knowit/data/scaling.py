"""Scalers fitted on training rows only, stored as JSON, applied to each batch on the fly.

z-norm uses the population standard deviation (numpy's default, ddof=0); a constant component
gets std 1 so it maps to zero instead of dividing by zero. Statistics are per component (the
channel axis); ``trailing_dims`` says how many axes follow it in a batch (0 for series windows
``(B, L, C)``, 2 for image sequences ``(B, T, C, H, W)``), so one broadcast applies them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from knowit.errors import KnowItDataError


FIT_CHUNK_ELEMENTS = 1 << 22  # float64 values per chunk when fitting (32 MiB)


class _ChunkStats:
    """Per-component count, mean, sum of squared deviations (Chan et al.'s pairwise update),
    min and max, accumulated one chunk of rows at a time."""

    def __init__(self, ndim: int, axis: int):
        self.axis, self.reduce = axis, tuple(i for i in range(ndim) if i != axis)
        self.n = 0
        self.mean = self.m2 = self.low = self.high = None

    def add(self, chunk: np.ndarray) -> None:
        n = chunk.size // chunk.shape[self.axis]
        mean = chunk.mean(axis=self.reduce, keepdims=True)
        m2 = np.square(chunk - mean).sum(axis=self.reduce)
        mean, low, high = mean.reshape(-1), chunk.min(axis=self.reduce), chunk.max(axis=self.reduce)
        if self.n == 0:
            self.n, self.mean, self.m2, self.low, self.high = n, mean, m2, low, high
            return
        total = self.n + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.n * n / total)
        self.low, self.high, self.n = np.minimum(self.low, low), np.maximum(self.high, high), total


@dataclass
class Scaler:
    method: str  # z-norm | zero-one
    components: list[str]
    shift: np.ndarray  # subtracted
    scale: np.ndarray  # then divided by
    trailing_dims: int = 0  # axes after the channel axis in a batch

    @classmethod
    def fit(cls, method: str, values: np.ndarray, components: list[str], *, axis: int = -1) -> Scaler:
        """Per-component statistics of ``values`` over every axis except ``axis`` (the components).

        Computed in float64 over chunks of rows, so fitting never holds a float64 copy of the
        whole training set (for a long series that copy was the run's peak memory).
        """
        if values.shape[0] == 0:
            raise KnowItDataError("data.scaling_method: no training rows to fit the scaler on")
        if method not in ("z-norm", "zero-one"):
            raise KnowItDataError(f"data.scaling_method: unknown method {method!r}; choose z-norm or zero-one")
        axis = axis % values.ndim
        stats = _ChunkStats(values.ndim, axis)
        per_row = max(1, int(np.prod(values.shape[1:])))
        step = max(1, FIT_CHUNK_ELEMENTS // per_row)
        for start in range(0, values.shape[0], step):
            stats.add(np.asarray(values[start:start + step], dtype=np.float64))
        if method == "z-norm":
            shift, scale = stats.mean, np.sqrt(stats.m2 / stats.n)
        else:
            shift, scale = stats.low, stats.high - stats.low
        scale = np.where(scale > 0, scale, 1.0)
        return cls(method, list(components), shift, scale, values.ndim - 1 - axis)

    def _shape(self) -> tuple[int, ...]:
        return (-1,) + (1,) * self.trailing_dims

    def _tensors(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``1/scale`` and ``-shift/scale`` spread over one whole sample and flattened, made once
        per dtype/device/sample shape: one fused multiply-add over a long contiguous operand is
        several times faster on CPU than broadcasting a few components over the innermost axis,
        and batches are the hot path."""
        key = (like.dtype, like.device, tuple(like.shape[1:]))
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            factor, offset = 1.0 / self.scale, -self.shift / self.scale
            cache[key] = tuple(
                torch.as_tensor(v, dtype=like.dtype, device=like.device).reshape(self._shape()).expand(like.shape[1:]).reshape(-1)
                for v in (factor, offset)
            )
        return cache[key]

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform_(x.clone())

    def transform_(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - shift) / scale`` of a freshly gathered batch nobody else holds: in place when
        it is contiguous (window batches are); a strided view (the padded path's column pick)
        is read once by the same fused multiply-add into a new contiguous block."""
        factor, offset = self._tensors(x)
        if x.device.type == "cpu":
            # numpy, one thread: assembling a batch is data loading (DataLoader workers run one
            # thread too), and it never waits in a parallel region while the cores are busy
            shape, values = x.shape[1:], x.numpy()
            out = values if x.is_contiguous() else np.empty(x.shape, dtype=values.dtype)
            np.multiply(values, factor.numpy().reshape(shape), out=out)
            out += offset.numpy().reshape(shape)
            return x if out is values else torch.from_numpy(out)
        if x.is_contiguous():
            flat = x.view(x.shape[0], -1)
            torch.addcmul(offset, flat, factor, out=flat)
            return x
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        torch.addcmul(offset.view(x.shape[1:]), x, factor.view(x.shape[1:]), out=out)
        return out

    def inverse(self, x: np.ndarray) -> np.ndarray:
        shape = self._shape()
        return np.asarray(x) * self.scale.astype(np.float32).reshape(shape) + self.shift.astype(np.float32).reshape(shape)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "components": self.components, "shift": self.shift.tolist(),
            "scale": self.scale.tolist(), "trailing_dims": self.trailing_dims,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaler:
        return cls(d["method"], list(d["components"]), np.asarray(d["shift"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64), int(d.get("trailing_dims", 0)))


CHUNK_ROWS = 1 << 18  # rows per step when working over a long series (bounds temporary memory)


def covered_rows(n_rows: int, rows: np.ndarray, slices: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Boolean mask of the rows any window ``[t+lo, t+hi]`` of the points ``rows`` (in row order)
    touches, clipped to each point's slice; built in chunks, one byte per row.

    Windows of points in row order start and end in row order, so their union is a sequence of
    disjoint runs: +1 at each run's first row and -1 after its last, summed, marks the rows.
    """
    from knowit.data.windows import touched_rows

    marks = np.zeros(n_rows + 1, dtype=np.int8)
    reach = -2  # last row covered by the windows seen so far (-2: none, so row 0 opens a run)
    for start in range(0, len(rows), CHUNK_ROWS):
        first, last = touched_rows(rows[start:start + CHUNK_ROWS], slices, lo, hi)
        nonempty = first <= last  # a padded window can lie wholly outside its slice
        first, last = first[nonempty], last[nonempty]
        before = np.maximum.accumulate(np.concatenate([[reach], last]))  # before[i]: reach before window i
        opens = first > before[:-1] + 1  # window i starts a new run
        closed = before[:-1][opens]  # the run before it ended there
        marks[closed[closed >= 0] + 1] -= 1
        marks[first[opens]] += 1
        reach = int(before[-1])
    if reach >= 0:
        marks[reach + 1] -= 1
    return np.cumsum(marks[:-1], out=marks[:-1]).view(bool)


def fit_on_rows(method: str, values: np.ndarray, mask: np.ndarray, columns: np.ndarray, components: list[str]) -> Scaler:
    """``Scaler.fit`` on ``values[mask][:, columns]``, computed in chunks of rows (two passes for
    z-norm, so the result equals numpy's) without copying the selected rows at once."""
    n = int(mask.sum())
    if n == 0:
        raise KnowItDataError("data.scaling_method: no training rows to fit the scaler on")

    def chunks():
        for start in range(0, len(values), CHUNK_ROWS):
            picked = values[start:start + CHUNK_ROWS][mask[start:start + CHUNK_ROWS]]
            if len(picked):
                yield picked[:, columns].astype(np.float64)

    if method == "z-norm":
        shift = sum(c.sum(axis=0) for c in chunks()) / n
        scale = np.sqrt(sum(((c - shift) ** 2).sum(axis=0) for c in chunks()) / n)
    elif method == "zero-one":
        shift = np.min([c.min(axis=0) for c in chunks()], axis=0)
        scale = np.max([c.max(axis=0) for c in chunks()], axis=0) - shift
    else:
        raise KnowItDataError(f"data.scaling_method: unknown method {method!r}; choose z-norm or zero-one")
    return Scaler(method, list(components), shift, np.where(scale > 0, scale, 1.0), 0)


class FittedScalers:
    """What a prepared dataset offers about its fitted ``x_scaler``/``y_scaler`` (either may be None)."""

    x_scaler: Scaler | None
    y_scaler: Scaler | None

    def scalers_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.x_scaler.to_dict() if self.x_scaler else None,
            "outputs": self.y_scaler.to_dict() if self.y_scaler else None,
        }

    def descale_outputs(self, y: np.ndarray) -> np.ndarray:
        return self.y_scaler.inverse(y) if self.y_scaler is not None else np.asarray(y)

"""Missing periods filled at import (``meta.fill_gaps``).

A shop closed for a day or a logger down for an hour leaves a series without rows for a few
periods. Left as they are, those gaps cut the series into slices, and every window that would
span one is lost (two years of 20 stores' daily sales with 83 missing days: 10,361 windows of
the default data config, 12,624 with the days filled). With ``fill_gaps: N`` a gap of up to ``N`` missing periods gets one row per period,
valued the way ``meta.nan_handling`` fills a missing cell (from the rows on either side of the
gap); longer gaps still cut the series. Class labels are never interpolated: a filled row takes
the label of the nearer side (the earlier on a tie), or of the side ``ffill``/``bfill`` names.

Filled rows are inputs like any other, but never targets: a point whose output window holds a
filled row is left out of every set (``without_filled_targets``), so no loss is fitted to, and
no metric scores, a value the import made up.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from knowit.data.frequency import periods_after
from knowit.data.windows import expand_ranges

FILL_METHODS = ("linear", "nearest", "ffill", "bfill")


@dataclass
class FilledChunk:
    times: np.ndarray  # the chunk's rows with the filled periods in place (stored form)
    values: np.ndarray
    after: np.ndarray  # row (within the chunk) after which each filled gap lies
    counts: np.ndarray  # rows filled in each gap
    filled: np.ndarray  # the filled rows' values, in order
    starts: np.ndarray  # where each gap's first filled row lies in ``times``/``values``
    longer: int  # gaps longer than the limit, left as slice cuts


def fill_chunk(times: np.ndarray, stored_times: np.ndarray, values: np.ndarray, steps: np.ndarray, *, limit: int, method: str,
               labels: np.ndarray, freq: str | None, delta: float, tz: str | None) -> FilledChunk:
    """Rows sorted by instance and time with the gaps of up to ``limit`` missing periods filled.

    ``times``: the rows' times as ``frequency.step_counts`` reads them (nanoseconds for dates);
    ``stored_times``: as the store keeps them; ``steps``: ``step_counts`` of the rows; ``labels``:
    which columns hold class codes."""
    missing = steps - 1
    gap = (missing >= 1) & (missing <= limit)
    after, counts = np.nonzero(gap)[0], missing[gap]
    longer = int((missing > limit).sum())
    if not len(after):
        return FilledChunk(stored_times, values, after, counts, values[:0], after, longer)
    new_times = periods_after(times[after], counts, freq=freq, delta=delta, tz=tz).astype(np.float64)
    new_values = _values_between(values[after], values[after + 1], counts, method, labels)
    # the original rows move down by the rows filled before them; the filled rows take the rest
    shift = np.zeros(len(times), dtype=np.int64)
    np.add.at(shift, after + 1, counts)
    position = np.arange(len(times)) + np.cumsum(shift)
    total = len(times) + int(counts.sum())
    is_original = np.zeros(total, dtype=bool)
    is_original[position] = True
    out_times = np.empty(total, dtype=np.float64)
    out_values = np.empty((total, values.shape[1]), dtype=values.dtype)
    out_times[position], out_values[position] = stored_times, values
    out_times[~is_original], out_values[~is_original] = new_times, new_values
    return FilledChunk(out_times, out_values, after, counts, new_values, position[after] + 1, longer)


def _values_between(before: np.ndarray, after: np.ndarray, counts: np.ndarray, method: str, labels: np.ndarray) -> np.ndarray:
    """The values of ``counts[i]`` evenly spaced rows between ``before[i]`` and ``after[i]``."""
    nth = expand_ranges(np.ones(len(counts), dtype=np.int64), counts)  # 1..counts[i] per gap
    share = (nth / np.repeat(counts + 1, counts))[:, None]  # 0 at the row before, 1 at the row after
    lo, hi = np.repeat(before, counts, axis=0), np.repeat(after, counts, axis=0)
    nearer = np.where(share <= 0.5, lo, hi)
    if method == "ffill":
        return lo
    if method == "bfill":
        return hi
    if method == "nearest":
        return nearer
    linear = (lo + (hi - lo) * share).astype(before.dtype)
    return np.where(labels[None, :], nearer, linear)


def without_filled_targets(sets: dict[str, np.ndarray], runs: np.ndarray, out_offsets: np.ndarray) -> tuple[dict[str, np.ndarray], int]:
    """``sets`` less the points whose output rows (``point + out_offsets``) hold a filled row
    (``runs``: ``(first row, rows)`` of each filled gap), and how many points that left out."""
    runs = np.asarray(runs, dtype=np.int64).reshape(-1, 2)
    if not len(runs):
        return sets, 0
    filled = expand_ranges(runs[:, 0], runs[:, 1])
    targets_filled = np.unique((filled[:, None] - np.asarray(out_offsets, dtype=np.int64)[None, :]).ravel())
    kept = {name: points[~np.isin(points, targets_filled)] for name, points in sets.items()}
    return kept, int(sum(len(points) - len(kept[name]) for name, points in sets.items()))

"""Assign prediction points to train / valid / test (KnowIt's split methods).

Chronological splits cut at two boundary times and drop the points whose windows straddle a
boundary (a purge gap): no training window contains a row of a validation or test window, and
no validation window a row of a test window. Random splits shuffle points, instances or slices
with the given seed.
"""
from __future__ import annotations

import warnings

import numpy as np

from knowit.data.store import SeriesData
from knowit.data.windows import WindowSpec
from knowit.errors import KnowItDataError

SETS = ("train", "valid", "test")


def _cuts(n: int, portions: list[float]) -> tuple[int, int]:
    a = int(round(portions[0] * n))
    b = int(round((portions[0] + portions[1]) * n))
    return a, b


def _by_units(unit_of_point: np.ndarray, order: np.ndarray, portions: list[float]) -> list[np.ndarray]:
    """Give whole units (instances or slices) to sets, in ``order``, by their share of points."""
    counts = np.bincount(unit_of_point, minlength=len(order))
    cum = np.cumsum(counts[order]) / max(1, counts.sum())
    bounds = np.cumsum(portions)[:2]
    which = np.searchsorted(bounds, cum - counts[order] / max(1, counts.sum()) / 2, side="right")
    set_of_unit = np.empty(len(order), dtype=np.int64)
    set_of_unit[order] = which
    set_of_point = set_of_unit[unit_of_point]
    return [np.nonzero(set_of_point == k)[0] for k in range(3)]


def split_points(
    data: SeriesData,
    points: np.ndarray,
    slice_of_point: np.ndarray,
    spec: WindowSpec,
    method: str,
    portions: list[float],
    seed: int,
) -> dict[str, np.ndarray]:
    """Indices into ``points`` for each set, each in time order."""
    rng = np.random.default_rng(seed)
    n = len(points)
    if method == "chronological":
        parts = _chronological(data, points, spec, portions)
    elif method == "random":
        perm = rng.permutation(n)
        a, b = _cuts(n, portions)
        parts = [np.sort(perm[:a]), np.sort(perm[a:b]), np.sort(perm[b:])]
    elif method in ("instance-random", "instance-chronological"):
        unit = data.slices[slice_of_point, 0]
        n_units = len(data.instances)
        order = rng.permutation(n_units) if method == "instance-random" else np.arange(n_units)
        parts = _by_units(unit, order, portions)
    elif method in ("slice-random", "slice-chronological"):
        n_units = len(data.slices)
        order = rng.permutation(n_units) if method == "slice-random" else np.arange(n_units)
        parts = _by_units(slice_of_point, order, portions)
    elif method == "custom":
        raise KnowItDataError("data.split_method: custom splits need data.split_column, a component holding 0/1/2 for train/valid/test")
    else:  # the schema's choices make this unreachable from config
        raise KnowItDataError(f"data.split_method: unknown method {method!r}")
    out = dict(zip(SETS, parts))
    for name, portion in zip(SETS, portions):
        if portion > 0 and len(out[name]) == 0:
            raise KnowItDataError(
                f"data.split_portions: the {name} set is empty with split_method={method} "
                f"({n} prediction points); change the portions or the method"
            )
    return out


def _chronological(data: SeriesData, points: np.ndarray, spec: WindowSpec, portions: list[float]) -> list[np.ndarray]:
    t_point = data.times[points]
    t_first = data.times[points + spec.lo]
    t_last = data.times[points + spec.hi]
    order = np.argsort(t_point, kind="stable")
    a, b = _cuts(len(points), portions)
    inf = np.inf
    b1 = t_point[order[a]] if a < len(points) else inf
    b2 = t_point[order[b]] if b < len(points) else inf
    # Purge: a point belongs to a set only if its whole window lies inside that set's time range.
    train = np.nonzero(t_last < b1)[0]
    valid = np.nonzero((t_first >= b1) & (t_last < b2))[0] if portions[1] > 0 else np.array([], dtype=np.int64)
    test = np.nonzero(t_first >= b2)[0] if portions[2] > 0 else np.array([], dtype=np.int64)
    if portions[1] == 0:
        train = np.nonzero(t_last < b2)[0]
    dropped = len(points) - len(train) - len(valid) - len(test)
    if dropped > 0.2 * len(points):
        warnings.warn(f"chronological split dropped {dropped} of {len(points)} points whose windows cross a split boundary", stacklevel=3)
    return [train[np.argsort(t_point[train], kind="stable")], valid[np.argsort(t_point[valid], kind="stable")], test[np.argsort(t_point[test], kind="stable")]]

"""Assign prediction points to train / valid / test (KnowIt's split methods).

Chronological splits cut at two boundary times and drop the points whose windows straddle a
boundary (a purge gap): no training window contains a row of a validation or test window, and
no validation window a row of a test window. Random splits shuffle points, instances or slices
with the given seed. A custom split reads each row's set from a split column; a point joins the
set of its rows only when its whole window carries one set (the same purge).
"""
from __future__ import annotations

import warnings

import numpy as np

from knowit.data.store import SeriesData
from knowit.errors import KnowItDataError

SETS = ("train", "valid", "test")
SET_NAMES = {"train": 0, "training": 0, "valid": 1, "validation": 1, "val": 1, "test": 2, "testing": 2}


def split_codes(data: SeriesData, column: str) -> np.ndarray:
    """Each row's set (0 train, 1 valid, 2 test) from a split column of names or of 0/1/2."""
    values = data.values[:, data.component_index([column], "data.split_column")[0]]
    if column in data.categories:
        names = data.categories[column]
        bad = [n for n in names if n.lower() not in SET_NAMES]
        if bad:
            raise KnowItDataError(f"data.split_column: {column!r} holds {bad[0]!r}; use train/valid/test (or 0/1/2)")
        lookup = np.array([SET_NAMES[n.lower()] for n in names], dtype=np.int64)
        return lookup[values.astype(np.int64)]
    if not np.isin(values, (0, 1, 2)).all():
        raise KnowItDataError(f"data.split_column: {column!r} must hold 0/1/2 (train/valid/test) or those names")
    return values.astype(np.int64)


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
    touched: tuple[np.ndarray, np.ndarray],
    method: str,
    portions: list[float],
    seed: int,
    codes: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Indices into ``points`` for each set, each in time order.

    ``touched`` holds the first and last row of each point's window; ``codes`` each row's set
    for ``method='custom'``.
    """
    rng = np.random.default_rng(seed)
    n = len(points)
    if method == "chronological":
        parts = _chronological(data, points, touched, portions)
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
        assert codes is not None
        parts = _custom(codes, points, touched)
    else:  # the schema's choices make this unreachable from config
        raise KnowItDataError(f"data.split_method: unknown method {method!r}")
    out = dict(zip(SETS, parts))
    needed = (1.0, 1.0, 0.0) if method == "custom" else portions  # custom: the column decides
    for name, portion in zip(SETS, needed):
        if portion > 0 and len(out[name]) == 0:
            raise KnowItDataError(
                f"data.split_portions: the {name} set is empty with split_method={method} "
                f"({n} prediction points); change the portions or the method"
            )
    return out


def _custom(codes: np.ndarray, points: np.ndarray, touched: tuple[np.ndarray, np.ndarray]) -> list[np.ndarray]:
    changes = np.concatenate([[0], np.cumsum(codes[1:] != codes[:-1])])
    uniform = changes[touched[1]] == changes[touched[0]]
    set_of_point = np.where(uniform, codes[points], -1)
    return [np.nonzero(set_of_point == k)[0] for k in range(3)]


def _chronological(data: SeriesData, points: np.ndarray, touched: tuple[np.ndarray, np.ndarray], portions: list[float]) -> list[np.ndarray]:
    t_point = data.times[points]
    t_first = data.times[touched[0]]
    t_last = data.times[touched[1]]
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

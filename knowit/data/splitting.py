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

from knowit.config.schema import SETS
from knowit.data.series import SeriesData
from knowit.data.windows import WindowSpec, expand_ranges, touched_rows
from knowit.errors import KnowItDataError

SET_NAMES = {"train": 0, "training": 0, "valid": 1, "validation": 1, "val": 1, "test": 2, "testing": 2}


def resolve_split_method(method: str, *, arrays: bool) -> str:
    """``auto``: a time series splits ``chronological`` (no future in training); array datasets
    of independent samples split ``random`` (archives often store samples sorted by class, so a
    stored-order cut would leave a one-class validation set)."""
    if method != "auto":
        return method
    return "random" if arrays else "chronological"


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


def split_points(
    data: SeriesData,
    first: np.ndarray,
    counts: np.ndarray,
    spec: WindowSpec,
    method: str,
    portions: list[float],
    seed: int,
    codes: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The prediction points (rows) of each set, in row order (instance by instance, in time).

    ``first``/``counts`` give each slice's run of points (``windows.point_ranges``); ``codes``
    each row's set for ``method='custom'``.
    """
    n = int(counts.sum())
    rng = np.random.default_rng(seed)
    if method == "chronological":
        out = _chronological(data, first, counts, spec, portions)
    elif method == "random":
        rows = expand_ranges(first, counts)
        perm = rng.permutation(n)
        a, b = _cuts(n, portions)
        out = {name: np.sort(rows[part]) for name, part in zip(SETS, (perm[:a], perm[a:b], perm[b:]))}
    elif method in ("instance-random", "instance-chronological", "slice-random", "slice-chronological"):
        by_instance = method.startswith("instance")
        unit = data.slices[:, 0] if by_instance else np.arange(len(data.slices))
        n_units = len(data.instances) if by_instance else len(data.slices)
        order = rng.permutation(n_units) if method.endswith("random") else np.arange(n_units)
        set_of_slice = _by_units(np.bincount(unit, weights=counts, minlength=n_units), order, portions)[unit]
        out = {name: expand_ranges(first, np.where(set_of_slice == k, counts, 0)) for k, name in enumerate(SETS)}
    elif method == "custom":
        assert codes is not None
        out = _custom(data, codes, expand_ranges(first, counts), spec)
    else:  # the schema's choices make this unreachable from config
        raise KnowItDataError(f"data.split_method: unknown method {method!r}")
    needed = (1.0, 1.0, 0.0) if method == "custom" else portions  # custom: the column decides
    for k, (name, portion) in enumerate(zip(SETS, needed)):
        if portion > 0 and len(out[name]) == 0:
            a, b = _cuts(n, portions)
            if method == "chronological" and (a, b - a, n - b)[k] > 0:  # the set had points before the purge
                span = spec.hi - spec.lo + 1
                raise KnowItDataError(
                    f"data.in_chunk/out_chunk: the {name} set is empty with split_method={method}: each window spans "
                    f"{span} rows and the points whose windows cross a set boundary are purged, which leaves none of its "
                    f"{(a, b - a, n - b)[k]} points ({n} in all); shorten the window, enlarge data.split_portions or use more data"
                )
            raise KnowItDataError(
                f"data.split_portions: the {name} set is empty with split_method={method} "
                f"({n} prediction points); change the portions or the method"
            )
    out = {name: rows.astype(_row_dtype(data.n_rows), copy=False) for name, rows in out.items()}
    dropped = n - sum(len(v) for v in out.values())
    if dropped > 0.2 * n:
        warnings.warn(f"{method} split dropped {dropped} of {n} points whose windows cross a split boundary", stacklevel=3)
    return out


def _by_units(points_per_unit: np.ndarray, order: np.ndarray, portions: list[float]) -> np.ndarray:
    """The set of each unit (instance or slice): whole units, in ``order``, by their share of points."""
    share = points_per_unit[order] / max(1.0, points_per_unit.sum())
    middle = np.cumsum(share) - share / 2
    set_of_unit = np.empty(len(order), dtype=np.int64)
    set_of_unit[order] = np.searchsorted(np.cumsum(portions)[:2], middle, side="right")
    return set_of_unit


def _custom(data: SeriesData, codes: np.ndarray, rows: np.ndarray, spec: WindowSpec) -> dict[str, np.ndarray]:
    changes = np.concatenate([[0], np.cumsum(codes[1:] != codes[:-1])])
    first, last = touched_rows(rows, data.slices, spec.lo, spec.hi)
    set_of_point = np.where(changes[last] == changes[first], codes[rows], -1)
    return {name: rows[set_of_point == k] for k, name in enumerate(SETS)}


def _chronological(data: SeriesData, first: np.ndarray, counts: np.ndarray, spec: WindowSpec, portions: list[float]) -> dict[str, np.ndarray]:
    """Cut at the times of the points at the portions' boundaries, then keep in each set only
    the points whose whole window lies inside the set's time range. Times grow along a slice,
    so each set is one run of points per slice, found with two binary searches."""
    times = data.times
    n = int(counts.sum())
    a, b = _cuts(n, portions)
    kth = [k for k in (a, b) if k < n]
    at = dict(zip(kth, _point_times_at(times, first, counts, kth)))
    b1, b2 = at.get(a, np.inf), at.get(b, np.inf)
    if portions[1] == 0:
        b1 = b2  # no validation set: training runs up to the test boundary
    ranges: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {name: [] for name in SETS}
    slice_first = data.slices[:, 1]
    slice_last = slice_first + data.slices[:, 2] - 1
    for s, (f, c) in enumerate(zip(first, counts)):
        if not c:
            continue
        start, end = int(slice_first[s]), int(slice_last[s])
        rows_times = times[start:end + 1]
        r1 = start + int(np.searchsorted(rows_times, b1, side="left"))  # first row at or after b1
        r2 = start + int(np.searchsorted(rows_times, b2, side="left"))
        # A window [max(t+lo, start), min(t+hi, end)] ends before row r iff r > end or t + hi < r,
        # and starts at or after row r iff start >= r or t + lo >= r.
        ends_before = lambda r: f + c if r > end else r - spec.hi  # noqa: E731 - exclusive bound on t
        starts_from = lambda r: f if start >= r else r - spec.lo  # noqa: E731 - inclusive bound on t
        bounds = {
            "train": (f, ends_before(r1)),
            "valid": (starts_from(r1), ends_before(r2)) if portions[1] > 0 else (0, 0),
            "test": (starts_from(r2), f + c) if portions[2] > 0 else (0, 0),
        }
        for name, (lo_t, hi_t) in bounds.items():
            lo_t, hi_t = max(lo_t, f), min(hi_t, f + c)
            if hi_t > lo_t:
                ranges[name].append((lo_t, hi_t - lo_t))
    dtype = _row_dtype(data.n_rows)
    return {
        name: expand_ranges(np.array([r[0] for r in rs], dtype=np.int64), np.array([r[1] for r in rs], dtype=np.int64), dtype=dtype)
        for name, rs in ranges.items()
    }


def _point_times_at(times: np.ndarray, first: np.ndarray, counts: np.ndarray, ks: list[int]) -> list[float]:
    """The times of the points ranked ``ks`` in time order. When each slice's points follow the
    previous slice's in time (one instance), row order is time order and they are read directly;
    else the points' times are copied once and partitioned."""
    keep = counts > 0
    f, c = first[keep], counts[keep]
    if np.all(times[f[1:]] >= times[f[:-1] + c[:-1] - 1]):  # times grow along each slice
        ends = np.cumsum(c)
        s = np.searchsorted(ends, ks, side="right")
        return [float(times[f[i] + k - (ends[i] - c[i])]) for i, k in zip(s, ks)]
    point_times = np.concatenate([times[a:a + n] for a, n in zip(f, c)])
    if ks:
        point_times.partition(ks)
    return [float(point_times[k]) for k in ks]


def _row_dtype(n_rows: int) -> type:
    """Row numbers fit in int32 below 2**31 rows: half the memory for the long-lived sets."""
    return np.int32 if n_rows < 2**31 else np.int64


def input_rows_that_fit(data: SeriesData, in_chunk: list[int], out_chunk: list[int], portions: list[float]) -> int | None:
    """When the window ``in_chunk``/``out_chunk`` leaves a chronological set of ``data`` empty (a
    short series: 8 years of months are 96 rows), the most input rows that leave none empty: one
    season of the calendar (12 months, 7 days, 24 hours) when that fits, else the longest of 16,
    8, 4, 2. ``None`` when the window fits as it is or nothing shorter does."""
    from knowit.data.frequency import calendar_season

    if _window_fits(data, in_chunk, out_chunk, portions):
        return None
    season, _ = calendar_season(data.freq, data.time_kind, data.time_delta)
    given = in_chunk[1] - in_chunk[0] + 1
    for rows in dict.fromkeys(r for r in (season, 16, 8, 4, 2) if r and r < given):
        if _window_fits(data, [in_chunk[1] - rows + 1, in_chunk[1]], out_chunk, portions):
            return rows
    return None


def forecast_steps_that_fit(data: SeriesData, in_chunk: list[int], portions: list[float], most: int) -> int | None:
    """The most steps ahead, up to ``most`` (then half of it, 3, 1), that a forecast window
    after ``in_chunk`` can take without leaving a chronological set of ``data`` empty."""
    for steps in sorted({s for s in (most, most // 2, 3, 1) if 1 <= s <= most}, reverse=True):
        if _window_fits(data, in_chunk, [1, steps], portions):
            return steps
    return None


def _window_fits(data: SeriesData, in_chunk: list[int], out_chunk: list[int], portions: list[float]) -> bool:
    """Whether a chronological split of ``data`` with these windows leaves every set some points."""
    from knowit.data.windows import point_ranges

    spec = WindowSpec(in_chunk=tuple(in_chunk), out_chunk=tuple(out_chunk))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the purge share: only whether a set is empty counts here
            first, counts = point_ranges(data.slices, spec)
            split_points(data, first, counts, spec, "chronological", portions, 0)
    except KnowItDataError:
        return False
    return True

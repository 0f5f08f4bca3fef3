"""What each set holds after the split, and warnings when a set cannot represent the problem.

Classification: class counts per set; a validation or test set that lacks a class present in
training, or holds a single class, is flagged (its metrics, and a best checkpoint chosen on it,
say little). Regression: target summaries per set in original units; a set whose targets reach
far beyond training's range is flagged (the model must extrapolate there).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from knowit.data.splitting import SETS

# A set's targets count as far outside training's when they pass its range by this share of it.
FAR_OUTSIDE = 0.5
MAX_SUMMARY_POINTS = 1_000_000  # targets of bigger sets are summarised on an even subsample
BLOCK_POINTS = 1 << 20  # points whose times are read at a time for a set's time range


def class_warnings(counts: dict[str, dict[str, int]]) -> list[str]:
    out = []
    train = counts.get("train", {})
    for name in ("valid", "test"):
        held = {c: n for c, n in counts.get(name, {}).items() if n > 0}
        if not held:
            continue
        missing = [c for c, n in train.items() if n > 0 and c not in held]
        if missing:
            out.append(f"the {name} set lacks classes present in training: {', '.join(missing)}")
        if len(held) == 1:
            out.append(f"the {name} set holds a single class ({next(iter(held))}): its metrics say little about the others")
    return out


def target_summary(values: np.ndarray) -> dict[str, float | int]:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        return {"n": 0}
    return {"n": int(values.size), "mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()), "max": float(values.max())}


def range_warnings(summaries: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    train = summaries.get("train", {})
    if not train.get("n"):
        return out
    span = max(train["max"] - train["min"], 1e-12)
    for name in ("valid", "test"):
        s = summaries.get(name, {})
        if not s.get("n"):
            continue
        beyond = max(train["min"] - s["min"], s["max"] - train["max"], 0.0)
        if beyond > FAR_OUTSIDE * span:
            out.append(
                f"the {name} set's targets span [{s['min']:.4g}, {s['max']:.4g}], far outside training's "
                f"[{train['min']:.4g}, {train['max']:.4g}]: the model must extrapolate there"
            )
    return out


def _subsample(points: np.ndarray) -> np.ndarray:
    if len(points) <= MAX_SUMMARY_POINTS:
        return points
    return points[:: -(-len(points) // MAX_SUMMARY_POINTS)]


def set_targets(prepared: Any, name: str) -> np.ndarray:
    """A set's regression targets in original units (subsampled for very large sets)."""
    points = _subsample(prepared.set_points(name))
    if prepared.spec is not None:  # a series: target rows follow the point by the output offsets
        rows = (points[:, None].astype(np.int64) + prepared.spec.out_offsets).reshape(-1)
        out_idx = prepared.data.component_index(prepared.out_components, "data.out_components")
        return prepared.raw_values(rows, out_idx)
    return prepared.data.y[points]  # array datasets keep targets unscaled in the store


def time_ranges(prepared: Any) -> dict[str, list[str]]:
    """First and last prediction time of each set of a series, as users read them (dates in the
    series' zone, or numbers)."""
    from knowit.data.frequency import display_times

    data, out = prepared.data, {}
    for name in SETS:
        points = prepared.set_points(name)
        if len(points):
            # a block of points at a time: never a copy of every point's time (a long series)
            ends = [(float(t.min()), float(t.max())) for t in (data.times[points[s:s + BLOCK_POINTS]] for s in range(0, len(points), BLOCK_POINTS))]
            shown = display_times(np.array([min(e[0] for e in ends), max(e[1] for e in ends)]), data.time_kind, data.tz)
            out[name] = [str(pd.Timestamp(t)) if data.time_kind == "datetime" else str(t) for t in shown]
    return out


def describe_sets(prepared: Any) -> tuple[dict[str, Any], list[str]]:
    """Per-set class counts or target summaries (and time ranges of a series), with the warnings they raise."""
    report: dict[str, Any] = {"time_range": time_ranges(prepared)} if prepared.spec is not None else {}
    if prepared.class_names is not None:
        return {**report, "class_counts": prepared.class_counts}, class_warnings(prepared.class_counts)
    summaries = {name: target_summary(set_targets(prepared, name)) for name in SETS}
    return {**report, "target_summary": summaries}, range_warnings(summaries)

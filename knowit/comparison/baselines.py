"""Naive baselines on exactly the points a model is scored on, and the model's skill over them.

Regression windows (time series):
- **persistence**: every output step is the target component's last known value, read at
  the *anchor* row ``t + min(in_chunk[1], out_chunk[0] - 1)``: the end of the input window, or
  the row just before the first target row when the targets start inside the input window
  (a naive forecast never reads the value it forecasts).
- **seasonal persistence** with season ``m``: output row ``t + k`` gets the value one whole
  number of seasons earlier, the latest such row at or before the anchor:
  ``t + k - m * ceil((k - anchor) / m)``.
Values come from the stored rows in original units. The season is ``data.season``, else the
one implied by the dataset's calendar frequency (``h`` -> 24, ``D`` -> 7, ``B`` -> 5,
``W`` -> 52, ``MS``/``M`` -> 12, ``QS``/``Q`` -> 4) or its regular time step (1 hour -> 24,
1 day -> 7); with neither, the seasonal baseline is left out and the summary says why.

Classification: the training set's majority class for every point.
Every baseline is scored on all of the model's points. Where a season back lies before a
point's slice starts, that point's seasonal forecast is its persistence forecast (counted in
``seasonal_fallback_points``). Persistence itself is left out, with the reason, when its row lies
outside a point's slice (padded windows) rather than scored on fewer points.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from knowit.comparison.scores import scores, skill
from knowit.data.frequency import calendar_season



def anchor_offset(spec: Any) -> int:
    """Offset of the last row a naive forecast may read: the input window's end, before any target row."""
    return int(min(spec.in_chunk[1], spec.out_chunk[0] - 1))


def horizon(prepared: Any) -> int:
    """Steps from the anchor to the farthest target (1 for array datasets): the DM test's horizon."""
    if prepared.spec is None:
        return 1
    return max(1, int(prepared.spec.out_chunk[1]) - anchor_offset(prepared.spec))


def infer_season(data: Any, configured: int | None) -> tuple[int | None, str]:
    """``(season, where it came from)``; ``(None, why not)`` when there is none."""
    if configured:
        return int(configured), "data.season"
    season, source = calendar_season(getattr(data, "freq", None), getattr(data, "time_kind", None), float(getattr(data, "time_delta", 0.0)))
    if season:
        return season, source
    return None, "no data.season and no calendar frequency to infer it from; set data.season"


def _source_rows(prepared: Any, points: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``points[:, None] + offsets`` and whether each lies inside its point's slice."""
    rows = np.asarray(points, dtype=np.int64)[:, None] + offsets[None, :]
    slices = prepared.data.slices
    s = prepared.slice_of(np.asarray(points, dtype=np.int64))
    first = slices[s, 1][:, None]
    last = first + slices[s, 2][:, None] - 1
    inside = (rows >= first) & (rows <= last)
    return np.clip(rows, 0, prepared.data.n_rows - 1), inside


def _target_columns(prepared: Any) -> np.ndarray:
    return prepared.data.component_index(list(prepared.out_components), "data.out_components")


def naive_regression(prepared: Any, points: np.ndarray, season: int | None) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, int]]:
    """Naive forecasts ``(N, out steps, out components)`` in original units, why any is missing,
    and how many points' seasonal forecast fell back to persistence (a season before their slice)."""
    spec = prepared.spec
    anchor = anchor_offset(spec)
    out_offsets = np.asarray(spec.out_offsets, dtype=np.int64)
    columns = _target_columns(prepared)
    made: dict[str, np.ndarray] = {}
    missing: dict[str, str] = {}
    notes: dict[str, int] = {}
    n = len(points)
    rows, inside = _source_rows(prepared, points, np.array([anchor]))
    if inside.all():
        last = prepared.raw_values(rows[:, 0], columns)  # (N, C)
        made["persistence"] = np.repeat(last[:, None, :], len(out_offsets), axis=1)
    else:
        missing["persistence"] = f"row t{anchor:+d} lies outside the slice of some points (padded windows)"
    if season and "persistence" in made:
        back = season * np.ceil((out_offsets - anchor) / season).astype(np.int64)
        rows, inside = _source_rows(prepared, points, out_offsets - back)
        seasonal = prepared.raw_values(rows.ravel(), columns).reshape(n, len(out_offsets), len(columns))
        short = ~inside  # a season back lies before the slice starts: persist the last value instead
        seasonal[short] = made["persistence"][short]
        made["seasonal_persistence"] = seasonal
        fallback = int(short.any(axis=1).sum())
        if fallback:
            notes["seasonal_fallback_points"] = fallback
    return made, missing, notes
    return made, missing


def naive_classification(prepared: Any, n: int) -> dict[str, np.ndarray]:
    counts = prepared.class_counts["train"]
    majority = int(np.argmax([counts[c] for c in prepared.class_names]))
    return {"majority_class": np.full(n, majority, dtype=np.int64)}


def model_predictions(prepared: Any, outputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs and targets as scored: class codes, or values in original units."""
    if prepared.task == "classification":
        return np.asarray(outputs).argmax(-1), np.asarray(targets)
    return prepared.descale_outputs(outputs), prepared.descale_outputs(targets)


def naive_predictions(prepared: Any, points: np.ndarray, season_cfg: int | None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Every naive forecast that fits the task on ``points``, plus notes (season, what is missing)."""
    if prepared.task == "classification":
        return naive_classification(prepared, len(points)), {}
    if prepared.spec is None:
        return {}, {"missing": {"persistence": "array datasets have no time axis to persist along"}}
    season, source = infer_season(prepared.data, season_cfg)
    made, missing, counts = naive_regression(prepared, points, season)
    notes: dict[str, Any] = {"season": season, "season_from": source, **counts} if season else {"season": None}
    if not season:
        missing["seasonal_persistence"] = source
    if missing:
        notes["missing"] = missing
    return made, notes


def baseline_report(prepared: Any, set_name: str, points: np.ndarray, outputs: np.ndarray, targets: np.ndarray, season_cfg: int | None) -> dict[str, Any]:
    """What ``summary.json`` records under ``baselines``: model and naive scores on the same
    points, in original units, and the model's skill over each naive forecast."""
    predicted, truth = model_predictions(prepared, outputs, targets)
    model = scores(prepared.task, predicted, truth)
    naive, notes = naive_predictions(prepared, points, season_cfg)
    report: dict[str, Any] = {"set": set_name, "n_points": int(len(points)), "model": model, "naive": {}, "skill": {}, **notes}
    for name, forecast in naive.items():
        report["naive"][name] = scores(prepared.task, forecast, truth)
        report["skill"][name] = skill(model, report["naive"][name])
    hint = own_past_hint(prepared, report)
    if hint:
        report["hint"] = hint
    return report


def own_past_hint(prepared: Any, report: dict[str, Any]) -> str | None:
    """Why a model may lose to persistence: persistence reads the targets' own past, and a model
    whose inputs leave the targets out (a nowcast from the other columns, an imported dataset's
    first run) does not. ``None`` when the model wins or reads them."""
    if prepared.task != "regression" or prepared.spec is None or report["skill"].get("persistence", {}).get("mae", 0.0) >= 0:
        return None
    unseen = [c for c in prepared.out_components if c not in prepared.in_components]
    if not unseen:
        return None
    names, spec = ", ".join(unseen), prepared.spec
    shown = f"the model's inputs ({', '.join(prepared.in_components)}) leave out the past of {names}, which persistence reads"
    if spec.out_chunk[0] > spec.in_chunk[1]:  # already a forecast: only the inputs leave them out
        return f"{shown}; add {names} to data.in_components to forecast from it"
    ahead = report.get("season") or 1
    return (f"{shown}; to forecast from it, start data.out_chunk after data.in_chunk ends (data.out_chunk=[1,{ahead}]: 1 to {ahead} "
            f"steps ahead) with {names} among data.in_components")


def format_baselines(report: dict[str, Any] | None) -> str:
    """The lines the CLI prints after a run: each naive score and the model's skill over it."""
    if not report or not report.get("naive"):
        return ""
    key = "mae" if "mae" in report["model"] else "error_rate"
    lines = [f"baselines on {report['n_points']} {report['set']} points ({key}, original units; skill = 1 - model/naive):",
             f"  {'model':<28}  {report['model'][key]:.6g}"]
    for name, values in report["naive"].items():
        label = f"{name} (m={report['season']})" if name == "seasonal_persistence" else name
        lines.append(f"  {label:<28}  {values[key]:.6g}   skill {report['skill'][name].get(key, float('nan')):+.3f}")
    if report.get("hint"):
        lines.append(f"  note: {report['hint']}")
    return "\n".join(lines)

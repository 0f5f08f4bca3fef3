"""Predictions on data the run has never seen (``LoadedRun.predict``).

Two forms of input:

- model-shaped arrays ``(N, *input_dim)`` (e.g. ``(N, in_len, components)`` windows, or
  ``(N, T, C, H, W)`` image sequences): scaled with the run's input scaler, predicted in batches;
- a DataFrame holding one time series in time order with the run's input components as columns:
  every row with a full input window (``data.in_chunk``) before/after it becomes a point.

Regression outputs are returned in original units (``descale_result``); classification returns
the class names (and probabilities with ``probabilities=True``).
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch

from knowit.data.scaling import Scaler
from knowit.data.windows import WindowGather, WindowSpec, expand_ranges, point_ranges
from knowit.errors import KnowItDataError


def _scaler(run: Any, which: str) -> Scaler | None:
    spec = (run.scalers or {}).get(which)
    return Scaler.from_dict(spec) if spec else None


def windows_from_frame(run: Any, frame: pd.DataFrame) -> tuple[np.ndarray, pd.Index, dict[str, pd.Index]]:
    """``(windows, index of each window's point, {time column: each point's time}`` when the
    frame carries the dataset's time column, else ``{}``) of a one-series DataFrame."""
    described = (run.summary or {}).get("data", {})
    components = described.get("in_components")
    if not components:
        raise KnowItDataError("new_data: this run does not record its input components; pass model-shaped arrays instead")
    missing = [c for c in components if c not in frame.columns]
    if missing:
        raise KnowItDataError(f"new_data: column {missing[0]!r} is missing; the model reads {', '.join(components)}")
    _refuse_several_series(run, frame, components)
    values = _input_values(run, frame, components)
    # Each stretch of consecutive steps is a slice; a point needs its whole input window and its own row inside one.
    slices, cut, times, values, rows = _frame_slices(run, frame, values)
    spec = WindowSpec(in_chunk=tuple(run.cfg.data.in_chunk), out_chunk=(0, 0))
    lo, hi = spec.required
    longest = int(slices[:, 2].max())
    if longest < hi - lo + 1:
        rows = f"{len(values)} rows" if not cut else f"the longest stretch without a gap ({cut}) has {longest} rows and"
        raise KnowItDataError(f"new_data: {rows} cannot hold one input window of {hi - lo + 1} rows (data.in_chunk={list(spec.in_chunk)})")
    first, counts = point_ranges(slices, spec)
    points = expand_ranges(first, counts)
    columns = np.arange(values.shape[1])
    gather = WindowGather(values, spec, columns, columns, classification=False)
    points = points[rows[points] >= 0]  # forecasts start from the frame's own rows, never a filled one
    windows = gather.inputs(torch.from_numpy(points)).numpy()
    return windows, frame.index[rows[points]], {name: stamps[points] for name, stamps in times.items()}


def _input_values(run: Any, frame: pd.DataFrame, components: list[str]) -> np.ndarray:
    """The frame's input columns as float32, class labels (text, as in the imported table) as
    the dataset's codes; a cell that is missing, infinite or an unknown label is refused naming
    its column and row."""
    categories = _dataset_categories(run)
    columns = []
    for name in components:
        column = frame[name]
        if name in categories and not pd.api.types.is_numeric_dtype(column):
            codes = column.astype(str).map({label: i for i, label in enumerate(categories[name])})
            unknown = codes.isna() & column.notna()
            if unknown.any():
                i = int(np.argmax(unknown.to_numpy()))
                raise KnowItDataError(f"new_data: column {name!r} row {frame.index[i]} holds {column.iloc[i]!r}, not one of the "
                                      f"dataset's classes ({', '.join(categories[name][:5])}{', ...' if len(categories[name]) > 5 else ''})")
            column = codes
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(numbers)
        if bad.any():
            i = int(np.argmax(bad))
            cell = column.iloc[i]
            what = "is empty" if pd.isna(cell) else f"holds {cell!r}" if isinstance(cell, str) else f"holds {cell}"
            raise KnowItDataError(f"new_data: column {name!r} row {frame.index[i]} {what}; the model reads finite numbers "
                                  "(fill or drop that row first)")
        columns.append(numbers.astype(np.float32))
    return np.stack(columns, axis=1) if columns else np.zeros((len(frame), 0), dtype=np.float32)


def _dataset_meta(run: Any) -> dict[str, Any]:
    """The stored meta of the run's dataset, when it is where the run was trained (a copied run
    folder has nothing to read: then ``{}``)."""
    from knowit.data.store import DatasetStore
    from knowit.errors import KnowItError

    try:
        return DatasetStore(run.cfg.exp_dir).meta(run.cfg.data.name)
    except KnowItError:
        return {}


def _dataset_categories(run: Any) -> dict[str, list[str]]:
    """The class names of the dataset's label columns (without the dataset: none, and a label
    column must hold codes)."""
    return dict(_dataset_meta(run).get("categories") or {})


def _frame_slices(run: Any, frame: pd.DataFrame, values: np.ndarray
                  ) -> tuple[np.ndarray, str, dict[str, pd.Index], np.ndarray, np.ndarray]:
    """``(slices, the first gap in words or "", {time column: its times}, values, rows)``: the
    frame's stretches of consecutive steps as ``(0, first row, length)``, cut where its time column
    (or DatetimeIndex) skips a step of the run's dataset, as the import cut the dataset into
    slices; where the import filled short gaps (``fill_gaps``), the frame's are filled the same
    way first (``values`` with the filled rows; ``rows``: each row's position in the frame, -1
    for a filled one). A frame without the dataset's time column is one stretch: its rows are
    read as consecutive steps."""
    from knowit.data.frequency import display_times, step_counts, step_in_words

    whole = np.array([[0, 0, len(frame)]], dtype=np.int64)
    rows = np.arange(len(frame))
    axis = (run.summary or {}).get("data", {}).get("time") or {}
    kind, column = axis.get("kind"), axis.get("column")
    if column is not None and column in frame.columns:
        source, name = frame[[column]], f"column {column!r}"
    elif kind == "datetime" and isinstance(frame.index, pd.DatetimeIndex):
        source, name, column = frame.iloc[:, :0], "the frame's DatetimeIndex", None
    else:
        return whole, "", {}, values, rows
    from knowit.data.importing import time_values

    try:
        parsed, found, _ = time_values(source, {"time_column": column, "time_format": axis.get("format"), "tz": axis.get("tz")})
    except KnowItDataError as err:
        raise KnowItDataError(f"new_data: {name}: {str(err).split(': ', 1)[1]}") from None
    if found != kind:
        raise KnowItDataError(f"new_data: {name} holds {found} times; the run's dataset has {kind} times")
    times = parsed["__time__"].to_numpy()
    times = times.astype("datetime64[ns]").astype(np.int64) if kind == "datetime" else times.astype(np.float64)
    shown = _shown_times(times, kind, axis.get("tz"))
    back = np.nonzero(np.diff(times) <= 0)[0]
    if len(back):
        i = int(back[0]) + 1
        raise KnowItDataError(f"new_data: {name} is not in increasing time order: row {frame.index[i]} ({shown[i]}) follows "
                              f"{shown[i - 1]}; sort the frame by time, one series at a time")
    step = {"freq": axis.get("freq"), "delta": float(axis["delta"]), "tz": axis.get("tz")}
    try:
        steps = step_counts(times, np.zeros(len(times), dtype=np.int64), **step)
    except KnowItDataError as err:  # a time off the dataset's calendar grid
        off_grid = str(err).split(": ", 1)[1].split(";")[0].replace(" grid", " grid of the run's dataset")
        raise KnowItDataError(f"new_data: {name}: {off_grid}") from None
    fill = axis.get("fill") or {}
    if fill.get("up_to"):
        components = list((run.summary or {}).get("data", {}).get("in_components") or [])  # the columns of ``values``
        times, values, rows, steps = _fill_frame_gaps(name, times, values, steps, fill, step, components)
        shown = _shown_times(times, kind, axis.get("tz"))
        whole = np.array([[0, 0, len(times)]], dtype=np.int64)
    found_in = {column: pd.Index(display_times(times, kind, axis.get("tz")))} if column is not None else {}  # a DatetimeIndex is the result's index already
    gaps = np.nonzero(steps != 1)[0]
    if not len(gaps):
        return whole, "", found_in, values, rows
    starts = np.concatenate([[0], gaps + 1])
    lengths = np.diff(np.concatenate([starts, [len(times)]]))
    first_gap = f"{name} skips from {shown[gaps[0]]} to {shown[gaps[0] + 1]}"
    warnings.warn(
        f"new_data: {first_gap}" + (f" and {len(gaps) - 1} more time{'s' if len(gaps) > 2 else ''}" if len(gaps) > 1 else "")
        + f" (the run's step is {step_in_words(axis.get('freq'), float(axis['delta']), kind)}); no window crosses a gap, so the frame is read as "
        f"{len(starts)} stretches of {', '.join(map(str, lengths[:5]))}{', ...' if len(lengths) > 5 else ''} rows",
        stacklevel=6,  # the caller of LoadedRun.predict (predict_new runs under torch.no_grad's wrapper)
    )
    slices = np.stack([np.zeros(len(starts), dtype=np.int64), starts, lengths], axis=1).astype(np.int64)
    return slices, first_gap, found_in, values, rows


def _shown_times(times: np.ndarray, kind: str, tz: str | None) -> pd.Index:
    """Times as messages show them: dates as 2024-05-09, times of day only where rows have them."""
    from knowit.data.frequency import display_times

    shown = pd.Index(display_times(times, kind, tz))
    if kind == "datetime":
        shown = shown.strftime("%Y-%m-%d" if (shown == shown.normalize()).all() else "%Y-%m-%d %H:%M:%S")
    return shown


def _fill_frame_gaps(name: str, times: np.ndarray, values: np.ndarray, steps: np.ndarray, fill: dict[str, Any],
                     step: dict[str, Any], components: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The frame's gaps of up to ``fill["up_to"]`` missing periods filled as the import filled
    the run's dataset (``knowit.data.gaps``): ``(times, values, rows, steps)`` with the filled
    rows in place (``rows``: position in the frame, -1 for a filled row)."""
    from knowit.data.frequency import step_counts
    from knowit.data.gaps import fill_chunk

    labels = np.array([c in (fill.get("labels") or ()) for c in components], dtype=bool)  # class codes: the nearer side's, as at import
    chunk = fill_chunk(times, times.astype(np.float64), values, steps, limit=int(fill["up_to"]), method=fill["by"],
                       labels=labels, **step)
    if not len(chunk.after):
        return times, values, np.arange(len(times)), steps
    rows = np.full(len(chunk.times), -1, dtype=np.int64)
    original = np.ones(len(chunk.times), dtype=bool)
    original[expand_ranges(chunk.starts, chunk.counts)] = False
    rows[original] = np.arange(len(times))
    filled = chunk.times.astype(times.dtype)
    warnings.warn(
        f"new_data: {name}: filled {len(chunk.after)} gap{'s' if len(chunk.after) > 1 else ''} ({int(chunk.counts.sum())} "
        f"row{'s' if chunk.counts.sum() > 1 else ''}, {fill['by']}) as the import filled the run's dataset (gaps of up to "
        f"{fill['up_to']} missing period{'s' if int(fill['up_to']) > 1 else ''}); no forecast starts from a filled row",
        stacklevel=7,
    )
    return filled, chunk.values, rows, step_counts(filled, np.zeros(len(filled), dtype=np.int64), **step)


def _refuse_several_series(run: Any, frame: pd.DataFrame, components: list[str]) -> None:
    """A frame is read as one series: a column naming two or more of the dataset's instances
    (a store column holding store_00 and store_01) means windows would run from one series into
    the next. Checked against the stored dataset's instance names, when it is where the run
    was trained (a copied run folder has nothing to check against)."""
    known = {str(name) for name in _dataset_meta(run).get("instances") or []}
    if len(known) < 2:
        return
    for col in frame.columns:
        if col in components:
            continue
        names = sorted({str(v) for v in frame[col].dropna().unique()})
        if len(names) >= 2 and known.issuperset(names):
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            raise KnowItDataError(
                f"new_data: column {col!r} holds {len(names)} of the dataset's instances ({shown}); "
                f"predict one series at a time, e.g. frame[frame[{col!r}] == {names[0]!r}]"
            )


@torch.no_grad()
def predict_new(run: Any, new_data: Any, *, apply_scaler: bool = True, descale_result: bool = True,
                probabilities: bool = False, batch_size: int = 1024) -> Any:
    module = run.module.eval()
    index = None
    if isinstance(new_data, pd.DataFrame):
        x, index, times = windows_from_frame(run, new_data)
    else:
        x = new_data.detach().cpu().numpy() if isinstance(new_data, torch.Tensor) else np.asarray(new_data, dtype=np.float32)
    expected = list(module.hparams.input_dim)
    if list(x.shape[1:]) != expected:
        raise KnowItDataError(f"new_data: expected arrays shaped (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
    x = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32)
    scaler = _scaler(run, "inputs") if apply_scaler else None
    if scaler is not None:
        x = scaler.transform(x)
    module._reset_states()
    device = next(module.parameters()).device
    out = torch.cat([module(x[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]).numpy()
    task = module.hparams.task
    if task == "classification":
        probs = torch.softmax(torch.from_numpy(out), dim=-1).numpy()
        names = np.asarray(module.hparams.class_names or [str(i) for i in range(probs.shape[-1])], dtype=object)
        labels = names[probs.argmax(-1)]
        if index is not None:
            labels = pd.Series(labels, index=index, name="prediction")
        return (labels, probs) if probabilities else labels
    y_scaler = _scaler(run, "outputs")
    if descale_result and y_scaler is not None:
        out = y_scaler.inverse(out)
    if index is None:
        return out
    return _frame_of_outputs(run, out, index, times)


def _frame_of_outputs(run: Any, out: np.ndarray, index: pd.Index, times: dict[str, pd.Index]) -> pd.DataFrame:
    """The point's time under the frame's time column name (when it had one), then one column
    per output component (``<component>`` or ``<component>@+<step>`` for multi-step)."""
    described = (run.summary or {}).get("data", {})
    components = described.get("out_components") or [str(i) for i in range(out.shape[-1])]
    lo, hi = run.cfg.data.out_chunk
    steps = list(range(int(lo), int(hi) + 1))
    columns: dict[str, Any] = dict(times)
    for s, step in enumerate(steps):
        for c, name in enumerate(components):
            columns[name if len(steps) == 1 else f"{name}@{step:+d}"] = out[:, s, c]
    return pd.DataFrame(columns, index=index)

"""Import a user's time series (DataFrame, CSV or Parquet) into the dataset store.

Rows are sorted by instance and time, duplicate timestamps dropped (with a warning that counts
them), and each instance is cut into contiguous slices wherever the time step breaks or a value
is missing (``nan_handling='split'``) — or gaps of missing values are interpolated first.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knowit.data.arrays import ArrayData, import_arrays
from knowit.data.store import DatasetStore, SeriesData
from knowit.errors import KnowItDataError

META_KEYS = {
    "name", "components", "time_delta", "instances", "time_column", "instance_column", "labels",
    "targets", "nan_handling", "description",
}
NAN_HANDLING = ("split", "linear", "nearest", "ffill", "bfill")


def read_table(raw: Any) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a CSV path or a Parquet path."""
    if isinstance(raw, pd.DataFrame):
        return raw.copy()
    if isinstance(raw, (str, Path)):
        path = Path(raw)
        if not path.is_file():
            raise KnowItDataError(f"data_import.raw_data: file not found: {path}")
        try:
            if path.suffix.lower() in (".parquet", ".pq"):
                df = pd.read_parquet(path)
            elif path.suffix.lower() in (".csv", ".txt"):
                df = pd.read_csv(path)
            else:
                raise KnowItDataError(f"data_import.raw_data: {path.name}: unsupported file type; use .csv, .parquet or .npz")
        except KnowItDataError:
            raise
        except Exception as err:  # noqa: BLE001 - any reader failure is a bad file to the user
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise KnowItDataError(f"data_import.raw_data: cannot read {path.name}: {first}") from None
        if df.empty:
            raise KnowItDataError(f"data_import.raw_data: {path.name} holds no rows")
        return df
    raise KnowItDataError(
        f"data_import.raw_data: expected a DataFrame or a path to a .csv/.parquet/.npz file, got {type(raw).__name__}"
    )


def _time_values(df: pd.DataFrame, meta: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """Move the time axis into a column named ``__time__``; return (frame, kind)."""
    col = meta.get("time_column")
    if col is not None:
        if col not in df.columns:
            raise KnowItDataError(f"meta.time_column: no column {col!r}; columns: {', '.join(map(str, df.columns))}")
        df = df.rename(columns={col: "__time__"})
    elif isinstance(df.index, pd.DatetimeIndex):
        df = df.rename_axis("__time__").reset_index()
    elif "time" in df.columns:
        df = df.rename(columns={"time": "__time__"})
    else:
        df = df.reset_index(drop=True)
        df["__time__"] = np.nan  # filled with row numbers per instance below
        return df, "index"
    t = df["__time__"]
    if pd.api.types.is_datetime64_any_dtype(t):
        return df, "datetime"
    if pd.api.types.is_numeric_dtype(t):
        return df, "numeric"
    try:
        df["__time__"] = pd.to_datetime(t)
    except (ValueError, TypeError):
        raise KnowItDataError("meta.time_column: time values are neither numbers nor dates") from None
    return df, "datetime"


def _infer_delta(times: np.ndarray, instances: np.ndarray) -> float:
    diffs = np.diff(times)
    same = instances[1:] == instances[:-1]
    diffs = diffs[same & (diffs > 0)]
    if diffs.size == 0:
        return 1.0
    values, counts = np.unique(diffs, return_counts=True)
    return float(values[np.argmax(counts)])


def is_array_source(raw: Any) -> bool:
    """Arrays come as a mapping ``{'x':…, 'y':…}`` or an ``.npz`` path; tables as anything else."""
    return isinstance(raw, Mapping) or (isinstance(raw, (str, Path)) and Path(raw).suffix.lower() == ".npz")


def import_dataset(store: DatasetStore, raw: Any, meta: Mapping[str, Any] | None, *, overwrite: bool = False) -> SeriesData | ArrayData:
    """Validate and store a time series (DataFrame/CSV/Parquet) or an array dataset (dict/.npz).

    Everything is checked before the store is written, so a rejected import leaves it untouched.
    """
    if is_array_source(raw):
        return import_arrays(store, raw, meta, overwrite=overwrite)
    return import_frame(store, raw, meta, overwrite=overwrite)


def import_frame(store: DatasetStore, raw: Any, meta: Mapping[str, Any] | None, *, overwrite: bool = False) -> SeriesData:
    """Validate, clean and store a time series; returns what was stored."""
    meta = dict(meta or {})
    unknown = set(meta) - META_KEYS
    if unknown:
        raise KnowItDataError(f"meta.{sorted(unknown)[0]}: unknown key; allowed keys: {', '.join(sorted(META_KEYS))}")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise KnowItDataError("meta.name: every dataset needs a name")
    nan_handling = meta.get("nan_handling", "split")
    if nan_handling not in NAN_HANDLING:
        raise KnowItDataError(f"meta.nan_handling: {nan_handling!r} is not one of {', '.join(NAN_HANDLING)}")
    df = read_table(raw)
    if df.empty:
        raise KnowItDataError("data_import.raw_data: the table holds no rows")
    df.columns = [str(c) for c in df.columns]
    df, time_kind = _time_values(df, meta)

    inst_col = meta.get("instance_column", "instance")
    if inst_col in df.columns:
        df["__instance__"] = df.pop(inst_col).astype(str)
    elif meta.get("instance_column") is not None:
        raise KnowItDataError(f"meta.instance_column: no column {inst_col!r}")
    else:
        df["__instance__"] = "0"

    labels = list(meta.get("labels") or [])
    for col in labels:
        if col not in df.columns:
            raise KnowItDataError(f"meta.labels: no column {col!r}")
    numeric = [c for c in df.columns if not c.startswith("__") and c not in labels and pd.api.types.is_numeric_dtype(df[c])]
    components = list(meta.get("components") or numeric + labels)
    for col in components:
        if col not in df.columns:
            raise KnowItDataError(f"meta.components: no column {col!r}; columns: {', '.join(c for c in df.columns if not c.startswith('__'))}")
        if col not in labels and not pd.api.types.is_numeric_dtype(df[col]):
            raise KnowItDataError(f"meta.components: column {col!r} is not numeric (declare it in meta.labels if it holds class labels)")
    if not components:
        raise KnowItDataError("meta.components: the table has no numeric columns")
    for col in components:
        if col not in labels and df[col].isna().all():
            raise KnowItDataError(f"meta.components: column {col!r} holds only missing values")

    categories: dict[str, list[str]] = {}
    for col in labels:
        if col in components:
            values = df[col]
            cats = sorted(values.dropna().unique(), key=lambda v: (str(type(v)), v))
            categories[col] = [str(c) for c in cats]
            df[col] = pd.Categorical(values, categories=cats).codes.astype("float64")
            df.loc[values.isna(), col] = np.nan

    df = df[["__instance__", "__time__", *components]]
    if time_kind == "index":
        df["__time__"] = df.groupby("__instance__", sort=False).cumcount().astype("float64")
    before = len(df)
    df = df.sort_values(["__instance__", "__time__"], kind="stable")
    df = df.drop_duplicates(subset=["__instance__", "__time__"], keep="first")
    dropped = before - len(df)
    if dropped:
        warnings.warn(f"dataset {name!r}: dropped {dropped} rows with duplicate timestamps", stacklevel=2)

    if nan_handling != "split":
        df = _interpolate(df, components, nan_handling)
    values = df[components].to_numpy(dtype=np.float64)
    if np.isinf(values).any():
        raise KnowItDataError(f"data_import.raw_data: infinite values in {', '.join(c for c in components if np.isinf(df[c].to_numpy(dtype=float)).any())}")
    keep = ~np.isnan(values).any(axis=1)
    df = df.loc[keep]
    if df.empty:
        raise KnowItDataError("data_import.raw_data: no row is free of missing values")

    time_ns = df["__time__"].to_numpy()
    times = time_ns.astype("datetime64[ns]").astype(np.int64).astype(np.float64) if time_kind == "datetime" else time_ns.astype(np.float64)
    inst = df["__instance__"].to_numpy()
    delta = meta.get("time_delta")
    if delta is None:
        delta_num = _infer_delta(times, inst)
    elif time_kind == "datetime":
        delta_num = float(pd.Timedelta(delta).value)
    else:
        delta_num = float(delta)

    class_counts = {}
    for col, cats in categories.items():
        codes = df[col].to_numpy(dtype=np.int64)
        class_counts[col] = {c: int(k) for c, k in zip(cats, np.bincount(codes, minlength=len(cats)))}
    instances = list(dict.fromkeys(inst.tolist()))
    data = SeriesData.from_rows(
        name=name,
        components=components,
        values=df[components].to_numpy(dtype=np.float32),
        times=times,
        instance_of_row=inst,
        instances=instances,
        time_delta=delta_num,
        time_kind=time_kind,
        categories=categories,
        class_counts=class_counts,
        targets=list(meta.get("targets") or []),
        description=str(meta.get("description", "")),
    )
    store.save_series(data, overwrite=overwrite)
    return data


def _interpolate(df: pd.DataFrame, components: list[str], method: str) -> pd.DataFrame:
    parts = []
    for _, part in df.groupby("__instance__", sort=False):
        part = part.copy()
        if method == "ffill":
            part[components] = part[components].ffill()
        elif method == "bfill":
            part[components] = part[components].bfill()
        else:
            part[components] = part[components].interpolate(method=method, limit_area="inside")
        parts.append(part)
    return pd.concat(parts)

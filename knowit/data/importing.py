"""Import a user's time series (DataFrame, CSV or Parquet) into the dataset store.

The import is a chain of small checks and steps, each working on a frame (or a chunk of one):
``check_meta`` (keys and types), ``resolve_columns`` (every named column exists, once),
``numeric_column`` (numbers only, float32-representable; ``coerce`` turns bad cells into NaN
explicitly), ``drop_duplicate_times`` and ``drop_missing_rows`` (counted, reported), then the time step is
found (``knowit.data.frequency``: calendar frequencies, fixed deltas) and each instance is cut
into slices only where a period is missing or a row was dropped. A result too short for one
window of the default config is refused unless ``meta.min_rows`` says otherwise.
``knowit.data.import_stream`` applies these steps batch by batch to a file read in record
batches; the dataset appears in the store only when every check has passed.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knowit.data.arrays import ArrayData
from knowit.data.frequency import parse_freq
from knowit.data.gaps import FILL_METHODS
from knowit.data.importing_arrays import import_arrays
from knowit.data.series import SeriesData
from knowit.data.store import DatasetStore
from knowit.errors import KnowItDataError

META_KEYS = {
    "name", "components", "time_delta", "freq", "tz", "instances", "time_column", "time_format", "instance_column", "labels",
    "targets", "nan_handling", "description", "min_rows", "coerce", "fill_gaps",
}
INTERNAL = ("__time__", "__instance__")  # the import's own working columns
NAN_HANDLING = ("split", *FILL_METHODS)
FLOAT32_MAX = float(np.finfo(np.float32).max)
# The import keeps the share of steps that must be one period for a series to count as regular.
REGULAR_SHARE = 0.5


def default_window_rows() -> int:
    """Rows one window of the default data config spans (what a default run needs in a slice)."""
    from knowit.config.schema import DataConfig

    cfg = DataConfig()
    lo, hi = min(cfg.in_chunk[0], cfg.out_chunk[0]), max(cfg.in_chunk[1], cfg.out_chunk[1])
    return hi - lo + 1


def _name_list(meta: Mapping[str, Any], key: str) -> list[str]:
    value = meta.get(key)
    if value is None:
        return []
    if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
        raise KnowItDataError(f"meta.{key}: expected a list of column names, got {value!r}")
    seen: set[str] = set()
    for v in value:
        if v in seen:
            raise KnowItDataError(f"meta.{key}: column {v!r} is named twice")
        seen.add(v)
    return list(value)


def check_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The metadata's keys and value types (before the table is read)."""
    meta = dict(meta or {})
    unknown = set(meta) - META_KEYS
    if unknown:
        raise KnowItDataError(f"meta.{sorted(unknown)[0]}: unknown key; allowed keys: {', '.join(sorted(META_KEYS))}")
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        raise KnowItDataError("meta.name: every dataset needs a name")
    if meta.get("nan_handling", "split") not in NAN_HANDLING:
        raise KnowItDataError(f"meta.nan_handling: {meta['nan_handling']!r} is not one of {', '.join(NAN_HANDLING)}")
    for key in ("components", "labels", "targets"):
        meta[key] = _name_list(meta, key)
    if meta.get("freq") is not None:
        if not isinstance(meta["freq"], str):
            raise KnowItDataError(f"meta.freq: expected a pandas frequency such as 'MS', got {meta['freq']!r}")
        parse_freq(meta["freq"])
        if meta.get("time_delta") is not None:
            raise KnowItDataError("meta.freq: give either freq or time_delta, not both")
    min_rows = meta.get("min_rows", default_window_rows())
    if not isinstance(min_rows, int) or isinstance(min_rows, bool) or min_rows < 1:
        raise KnowItDataError(f"meta.min_rows: expected a positive integer, got {min_rows!r}")
    meta["min_rows"] = min_rows
    if meta.get("time_format") is not None and (not isinstance(meta["time_format"], str) or "%" not in meta["time_format"]):
        raise KnowItDataError(f"meta.time_format: expected a strftime format such as '%d/%m/%Y', got {meta['time_format']!r}")
    fill = meta.setdefault("fill_gaps", 0)
    if not isinstance(fill, int) or isinstance(fill, bool) or fill < 0:
        raise KnowItDataError(f"meta.fill_gaps: expected the most missing periods in a row to fill (an integer >= 0), got {fill!r}")
    if fill and meta.get("nan_handling", "split") == "split":
        raise KnowItDataError(
            f"meta.fill_gaps: filled periods take their values the way meta.nan_handling fills missing cells; set it to "
            f"{', '.join(FILL_METHODS[:-1])} or {FILL_METHODS[-1]}; it is 'split', which fills nothing"
        )
    meta.setdefault("coerce", False)
    if not isinstance(meta["coerce"], bool):
        raise KnowItDataError(f"meta.coerce: expected true or false, got {meta['coerce']!r}")
    return meta


def time_column_of(df: pd.DataFrame, meta: Mapping[str, Any]) -> str | None:
    """The column of ``df`` that holds the time: ``meta.time_column``, else ``time`` unless the
    frame's DatetimeIndex is the time axis; ``None`` for the index or row numbers."""
    col = meta.get("time_column")
    if col is not None:
        if col not in df.columns:
            raise KnowItDataError(f"meta.time_column: no column {col!r}; columns: {', '.join(map(str, df.columns))}")
        return col
    if not isinstance(df.index, pd.DatetimeIndex) and "time" in df.columns:
        return "time"
    return None


def _dates_in_format(t: pd.Series, fmt: str, first_row: int) -> pd.Series:
    parsed = pd.to_datetime(t, format=fmt, errors="coerce")
    bad = parsed.isna() & t.notna()
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise KnowItDataError(f"meta.time_format: row {first_row + i} holds {t.iloc[i]!r}, which is not a date in the format {fmt!r}")
    return parsed


def _refuse_a_date_out_of_format(t: pd.Series, first_row: int) -> None:
    """pandas reads every date in the format it guessed from the first one: a day-first export
    (01/02/2023 is 1 February) is guessed month-first and fails at its 13th day. Name that row
    and the way to give the format; times that are not dates at all fall through."""
    try:
        guessed = pd.to_datetime(t, errors="coerce", utc=True)
    except (ValueError, TypeError, OverflowError):
        return
    bad = guessed.isna() & t.notna()
    if guessed.notna().any() and bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise KnowItDataError(
            f"meta.time_column: row {first_row + i} holds {t.iloc[i]!r}, which does not read as a date in the format of the "
            f"first row ({t.iloc[0]!r}); give the format with meta.time_format, e.g. '%d/%m/%Y' for day-first dates"
        )


def time_values(df: pd.DataFrame, meta: Mapping[str, Any], first_row: int = 0) -> tuple[pd.DataFrame, str, str | None]:
    """Move the time axis into a column ``__time__`` (UTC for aware dates); return (frame, kind, tz).
    ``first_row``: the table row of ``df``'s first row (errors name table rows)."""
    col = time_column_of(df, meta)
    if col is not None:
        df = df.rename(columns={col: "__time__"})
    elif isinstance(df.index, pd.DatetimeIndex):
        df = df.rename_axis("__time__").reset_index()
    else:
        df = df.reset_index(drop=True)
        df["__time__"] = np.nan  # filled with row numbers per instance below
        return df, "index", None
    t = df["__time__"]
    if pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t):
        if t.isna().any() or not np.isfinite(t.to_numpy(dtype=np.float64)).all():
            raise KnowItDataError(f"meta.time_column: row {first_row + int(np.argmax(~np.isfinite(t.to_numpy(dtype=np.float64))))} has no finite time")
        return df, "numeric", None
    if meta.get("time_format") is not None and not pd.api.types.is_datetime64_any_dtype(t):
        t = _dates_in_format(t, meta["time_format"], first_row)
    elif not pd.api.types.is_datetime64_any_dtype(t):
        try:
            t = pd.to_datetime(t)
        except (ValueError, TypeError, OverflowError):
            try:  # offsets that change along the file (a DST change): read them all as UTC
                t = pd.to_datetime(t, utc=True)
            except (ValueError, TypeError, OverflowError):
                _refuse_a_date_out_of_format(t, first_row)
                raise KnowItDataError("meta.time_column: time values are neither numbers nor dates (ISO dates such as 2024-01-31 or 2024-03-31T02:00+02:00 are read)") from None
        if not pd.api.types.is_datetime64_any_dtype(t):
            raise KnowItDataError("meta.time_column: time values are neither numbers nor dates")
    if t.isna().any():
        raise KnowItDataError(f"meta.time_column: row {first_row + int(np.argmax(t.isna().to_numpy()))} has no time")
    tz = meta.get("tz")
    if t.dt.tz is not None:
        tz = tz or (str(t.dt.tz) if str(t.dt.tz) != "UTC" else None)
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    elif tz:
        try:
            t = t.dt.tz_localize(tz, ambiguous="raise", nonexistent="raise").dt.tz_convert("UTC").dt.tz_localize(None)
        except Exception as err:  # noqa: BLE001 - an unknown zone or a wall time that does not exist there
            raise KnowItDataError(f"meta.tz: cannot place the times in {tz!r}: {str(err).splitlines()[0]}") from None
    try:
        df["__time__"] = t.dt.as_unit("ns")
    except (ValueError, OverflowError):  # OutOfBoundsDatetime: a year such as -1 or 3000 (a text "-1" reads as one)
        i = int(np.argmax(~t.between(pd.Timestamp.min, pd.Timestamp.max).to_numpy()))
        raise KnowItDataError(f"meta.time_column: row {first_row + i} holds {t.iloc[i]}, a date outside the years 1677-2262 "
                              "that knowit's nanosecond times hold") from None
    return df, "datetime", tz


@dataclass
class Columns:
    """The columns an import keeps, after checking that each named one exists."""

    components: list[str]
    labels: list[str]
    targets: list[str]
    ignored: list[str] = field(default_factory=list)  # text columns left out of the default components


def _mostly_numbers(column: pd.Series) -> bool:
    present = column.dropna()
    return len(present) > 0 and pd.to_numeric(present, errors="coerce").notna().mean() >= 0.5


def resolve_columns(df: pd.DataFrame, meta: Mapping[str, Any]) -> Columns:
    """Components, labels and targets; every named column must exist (the message lists those that do)."""
    user_columns = [c for c in df.columns if c not in INTERNAL]
    labels, targets = meta["labels"], meta["targets"]
    for key in ("labels", "components", "targets"):
        for col in meta[key]:
            if col not in df.columns:
                raise KnowItDataError(f"meta.{key}: no column {col!r}; columns: {', '.join(user_columns)}")
    ignored: list[str] = []
    if meta["components"]:
        components = meta["components"]
    else:
        components = []
        for c in user_columns:
            text = df[c].dtype == object or pd.api.types.is_string_dtype(df[c])
            numeric = pd.api.types.is_numeric_dtype(df[c]) or (text and _mostly_numbers(df[c]))
            if c in labels or numeric:
                components.append(c)
            else:
                ignored.append(c)
    if not components:
        raise KnowItDataError(f"meta.components: the table has no numeric columns; columns: {', '.join(user_columns)}")
    for col in targets:
        if col not in components:
            raise KnowItDataError(f"meta.targets: column {col!r} is not among the components: {', '.join(components)}")
    return Columns(components, labels, targets, ignored)


def numeric_column(df: pd.DataFrame, col: str, *, coerce: bool, first_row: int = 0) -> np.ndarray:
    """A column as float64: bool/int/float as they are; text cells are refused (first one named)
    unless ``coerce`` turns them into NaN; complex values and values beyond float32 are refused.
    ``first_row``: the table row of ``df``'s first row (errors name table rows)."""
    column = df[col]
    if pd.api.types.is_complex_dtype(column):
        raise KnowItDataError(f"meta.components: column {col!r} holds complex numbers; import the real and imaginary parts as two columns")
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        converted = pd.to_numeric(column, errors="coerce")
        bad = (converted.isna() & column.notna()).to_numpy()
        if bad.any() and not coerce:
            row = int(np.argmax(bad))
            raise KnowItDataError(
                f"meta.components: column {col!r} is not numeric: row {first_row + row} holds {column.iloc[row]!r} "
                f"({int(bad.sum())} such cell{'' if bad.sum() == 1 else 's'}); fix them, declare the column in meta.labels, or import with --coerce to read them as missing"
            )
        if np.iscomplexobj(converted.to_numpy()):
            raise KnowItDataError(f"meta.components: column {col!r} holds complex numbers; import the real and imaginary parts as two columns")
        values = converted.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise KnowItDataError(f"data_import.raw_data: column {col!r} holds infinite values (first at row {first_row + int(np.argmax(np.isinf(values)))})")
    big = np.abs(np.nan_to_num(values)) > FLOAT32_MAX
    if big.any():
        row = int(np.argmax(big))
        raise KnowItDataError(f"data_import.raw_data: column {col!r} row {first_row + row} holds {values[row]:g}, beyond float32's range (±{FLOAT32_MAX:.3g}); rescale the column")
    return values


def _class_key(value: Any) -> tuple[str, Any]:
    return str(type(value)), value


def label_codes(column: pd.Series, known: dict[Any, int]) -> np.ndarray:
    """A label column as float64 codes (NaN where missing). ``known`` maps each class seen so far
    to its code; new classes get the next codes, in sorted order among themselves."""
    new = sorted((v for v in column.dropna().unique() if v not in known), key=_class_key)
    known.update({v: len(known) + i for i, v in enumerate(new)})
    codes = pd.Categorical(column, categories=list(known)).codes.astype("float64")
    codes[column.isna().to_numpy()] = np.nan
    return codes


def sorted_classes(known: dict[Any, int]) -> tuple[list[str], np.ndarray]:
    """The class names in sorted order and, per code given by ``label_codes``, its sorted code."""
    classes = sorted(known, key=_class_key)
    renumber = np.empty(len(known), dtype=np.int64)
    for new, value in enumerate(classes):
        renumber[known[value]] = new
    return [str(c) for c in classes], renumber


def in_time_order(df: pd.DataFrame) -> bool:
    """Whether the rows are sorted by (instance, time) already."""
    inst, t = df["__instance__"].to_numpy(), df["__time__"].to_numpy()
    same = inst[1:] == inst[:-1]
    return bool(np.all((same & (t[1:] >= t[:-1])) | (~same & (inst[1:] > inst[:-1]))))


def drop_duplicate_times(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Sort by (instance, time) (unless sorted already) and drop repeated timestamps (the first
    row is kept)."""
    if not in_time_order(df):
        df = df.sort_values(["__instance__", "__time__"], kind="stable")
    inst, t = df["__instance__"].to_numpy(), df["__time__"].to_numpy()
    repeat = np.concatenate([[False], (inst[1:] == inst[:-1]) & (t[1:] == t[:-1])])
    if not repeat.any():
        return df, 0
    return df.iloc[np.nonzero(~repeat)[0]], int(repeat.sum())


def drop_missing_rows(df: pd.DataFrame, components: list[str]) -> tuple[pd.DataFrame, int]:
    """Drop rows with a missing value (each such row cuts its slice in two)."""
    keep = ~df[components].isna().any(axis=1).to_numpy()
    return df.loc[keep], int((~keep).sum())


def declared_step(meta: Mapping[str, Any], time_kind: str) -> float | None:
    delta = meta.get("time_delta")
    if delta is None:
        return None
    if time_kind == "datetime":
        try:
            value = float(pd.Timedelta(delta).value)
        except (ValueError, TypeError, OverflowError):
            hint = " (months and years are calendar steps: give meta.freq 'MS', 'ME', 'YS' or 'YE')" if str(delta).strip()[-1:] in "MYy" else ""
            raise KnowItDataError(f"meta.time_delta: {delta!r} is not a duration such as '1h' or '15min'{hint}") from None
    else:
        if isinstance(delta, bool) or not isinstance(delta, (int, float)):
            raise KnowItDataError(f"meta.time_delta: the time column holds numbers, so the step must be a number, got {delta!r}")
        value = float(delta)
    if not np.isfinite(value) or value <= 0:
        raise KnowItDataError(f"meta.time_delta: the step must be positive, got {delta!r}")
    return value


@dataclass
class LeftOut:
    """Text columns the import left out that look like the time or the instance of each row:
    a user who did not name them gets told which key would use them."""

    dates: list[str] = field(default_factory=list)  # every sampled cell reads as a date
    groups: list[str] = field(default_factory=list)  # few names, each repeated: likely instances

    def instance_hint(self) -> str:
        if not self.groups:
            return ""
        col = self.groups[0]
        return f"; if column {col!r} tells the series apart, pass meta.instance_column (--instance-column {col})"


def _reads_as_dates(column: pd.Series) -> bool:
    sample = column.dropna().astype(str).head(200)
    if not len(sample) or not sample.str.contains(r"\d").all():
        return False
    with warnings.catch_warnings():  # pandas warns when it has to guess a format per cell
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def left_out_columns(df: pd.DataFrame, ignored: list[str], *, instance_named: bool) -> LeftOut:
    """Which of the ``ignored`` text columns of the (first) batch look like dates or like instance
    names (only asked when no instance column was named or found)."""
    found = LeftOut()
    for col in ignored:
        if _reads_as_dates(df[col]):
            found.dates.append(col)
        elif not instance_named:
            names = df[col].nunique(dropna=True)
            if 1 < names <= len(df) // 2:
                found.groups.append(col)
    return found


def warn_unused_time(name: str, left_out: LeftOut) -> None:
    """A table imported without a time column while a text column holds dates (and perhaps
    another names the series): its rows were numbered in file order, as one series per instance."""
    if not left_out.dates:
        return
    col = left_out.dates[0]
    warnings.warn(
        f"dataset {name!r}: no time column, so the rows are numbered in file order; column {col!r} holds dates: "
        f"pass meta.time_column (--time-column {col}) to use them{left_out.instance_hint()}",
        stacklevel=3,
    )


def _share(k: int, n: int) -> str:
    """``k`` of ``n`` as a percentage that is never ``0.0%`` for rows that were dropped."""
    share = 100.0 * k / n
    return f"{share:.1f}%" if share >= 0.1 or k == 0 else f"{share:.2g}%"


def report_drops(name: str, dropped: dict[str, int], left_out: LeftOut | None = None) -> None:
    n = max(1, dropped["of"])
    if dropped["duplicate"]:
        k = dropped["duplicate"]
        rows = "1 row with a duplicate timestamp" if k == 1 else f"{k} rows with duplicate timestamps"
        # one series holding most rows twice is several series without their instance column
        hint = left_out.instance_hint() if left_out is not None and k / n >= 0.1 else ""
        warnings.warn(f"dataset {name!r}: dropped {rows} ({_share(k, n)} of {n}){hint}", stacklevel=3)
    if dropped["missing"]:
        k = dropped["missing"]
        rows = "1 row with a missing value" if k == 1 else f"{k} rows with missing values"
        warnings.warn(f"dataset {name!r}: dropped {rows} ({_share(k, n)} of {n}); each cuts its slice", stacklevel=3)


def is_array_source(raw: Any) -> bool:
    """Arrays come as a mapping ``{'x':…, 'y':…}`` or an ``.npz`` path; tables as anything else."""
    return isinstance(raw, Mapping) or (isinstance(raw, (str, Path)) and Path(raw).suffix.lower() == ".npz")


def import_dataset(store: DatasetStore, raw: Any, meta: Mapping[str, Any] | None, *, overwrite: bool = False,
                   batch_rows: int | None = None) -> SeriesData | ArrayData:
    """Validate and store a time series (DataFrame/CSV/Parquet) or an array dataset (dict/.npz).

    A rejected import leaves the store untouched (the dataset is moved into place only when
    every check has passed).
    """
    if is_array_source(raw):
        return import_arrays(store, raw, meta, overwrite=overwrite)
    return import_frame(store, raw, meta, overwrite=overwrite, batch_rows=batch_rows)


def import_frame(store: DatasetStore, raw: Any, meta: Mapping[str, Any] | None, *, overwrite: bool = False,
                 batch_rows: int | None = None) -> SeriesData:
    """Validate, clean and store a time series (DataFrame, CSV or Parquet); returns what was stored.

    A file is read in batches of ``batch_rows`` rows (``knowit.data.import_stream``) and written to
    the store as it is read; a DataFrame is one batch. The dataset appears in one rename at the
    end, so a rejected import leaves the store as it was.
    """
    from knowit.data.import_stream import stream_series, table_batches

    meta = check_meta(meta)
    batches = table_batches(raw, batch_rows)
    source = Path(raw).name if isinstance(raw, (str, Path)) else "the table"
    store.save_series_streamed(meta["name"], lambda folder: stream_series(batches, meta, folder, batch_rows, source), overwrite=overwrite)
    return store.load_series(meta["name"])


def interpolate_missing(df: pd.DataFrame, components: list[str], method: str) -> pd.DataFrame:
    parts = []
    for _, part in df.groupby("__instance__", sort=False):
        part = part.copy()
        if method == "ffill":
            part[components] = part[components].ffill()
        elif method == "bfill":
            part[components] = part[components].bfill()
        else:
            # By time, not by row: a cell beside a missing period lies two steps from the next row,
            # not one (pandas' "linear" spaces rows evenly; "index" and "nearest" read the index).
            times = part["__time__"].to_numpy()
            at = pd.Index(times.astype("datetime64[ns]").astype(np.int64) if np.issubdtype(times.dtype, np.datetime64) else times.astype(np.float64))
            cells = part[components].set_axis(at).interpolate(method="index" if method == "linear" else method, limit_area="inside")
            part[components] = cells.to_numpy()
        parts.append(part)
    return pd.concat(parts)

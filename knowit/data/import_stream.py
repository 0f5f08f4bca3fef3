"""A time-series table imported batch by batch, with peak memory bounded by one batch.

A CSV (pandas' reader in chunks of ``batch_rows`` rows: the same parser, hence the same cells,
as reading the whole file) or a Parquet file (pyarrow record batches) is read one batch at a
time. Each batch goes through the checks of ``knowit.data.importing`` (time parsing, instance
names, numeric columns, labels, duplicates, missing values) and its rows are appended to
``values.npy`` / ``times.npy`` in the store's temporary folder. What crosses a batch boundary is
carried: the last row (a repeated timestamp and the sort order are checked against it), the row
count of each instance (a table without a time column numbers its rows), the label classes seen
so far, and, for an interpolating ``nan_handling``, the rows that cannot be filled until a later
row of every column is known.

Three steps need the whole series and take one pass more, explicitly:
- the time step (``frequency.StepCounter``) is found by reading ``times.npy`` batch by batch after
  the stream, and the slices are cut in a second read of it;
- label classes are numbered as first seen; when that differs from their sorted order, the label
  columns of ``values.npy`` are renumbered in place, batch by batch;
- a file whose batches are not in (instance, time) order (a later batch holds an earlier row) is
  read a second time and sorted in memory, whole, with a warning saying so: sort such a file by
  instance and time to import it in bounded memory.
A DataFrame given in memory is one batch.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knowit.data.frequency import HOW_TO_DECLARE, StepCounter, irregular_hint, step_counts, step_in_words, stored_ns, tick_alias
from knowit.data.gaps import fill_chunk
from knowit.data.importing import (
    INTERNAL, REGULAR_SHARE, LeftOut, interpolate_missing, report_drops, declared_step, time_column_of, time_values, drop_duplicate_times,
    drop_missing_rows, label_codes, left_out_columns, numeric_column, resolve_columns, sorted_classes, warn_unused_time,
)
from knowit.data.series import SeriesData
from knowit.data.store import TIMES_FILE, VALUES_FILE, NpyAppender, npy_blocks, open_rows
from knowit.errors import KnowItDataError

DEFAULT_BATCH_ROWS = 1 << 19  # rows per batch: ~0.5 M rows keeps pandas' per-call cost small and memory bounded
Batches = Callable[[], Iterator[tuple[int, pd.DataFrame]]]


class _Unsorted(Exception):
    """A batch holds a row that sorts before the rows already taken."""

    def __init__(self, row: int):
        super().__init__(row)
        self.row = row


def _cannot_read(path: Path, err: Exception) -> KnowItDataError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return KnowItDataError(f"data_import.raw_data: cannot read {path.name}: {first}")


def _file_batches(path: Path, batch_rows: int) -> Iterator[pd.DataFrame]:
    if path.suffix.lower() in (".csv", ".txt"):
        # low_memory=False: one parse per batch. Parsed in pieces, a column with one text cell
        # made pandas warn about options of its own; the import names the cell itself.
        with pd.read_csv(path, chunksize=batch_rows, low_memory=False) as reader:
            yield from reader
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    # pre_buffer=False: with pyarrow's default read-ahead the reader kept ~9 MB per 0.5 M-row
    # batch alive (RSS grew with the file); without it, memory stays flat over the whole file.
    parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    for batch in parquet.iter_batches(batch_size=batch_rows, use_threads=False):
        # the file's schema carries pandas' metadata: a stored DatetimeIndex comes back as the index
        yield pa.Table.from_batches([batch], schema=parquet.schema_arrow).to_pandas()


def table_batches(raw: Any, batch_rows: int | None = None) -> Batches:
    """What reads ``raw`` (a DataFrame, a CSV or a Parquet path) as (first table row, batch) pairs;
    calling it again reads the table again. A missing or unsupported file is refused here."""
    if isinstance(raw, pd.DataFrame):
        if raw.empty:
            raise KnowItDataError("data_import.raw_data: the table holds no rows")
        return lambda: iter([(0, raw.copy())])
    if not isinstance(raw, (str, Path)):
        raise KnowItDataError(
            f"data_import.raw_data: expected a DataFrame or a path to a .csv/.parquet/.npz file, got {type(raw).__name__}"
        )
    path = Path(raw)
    if not path.is_file():
        raise KnowItDataError(f"data_import.raw_data: file not found: {path}")
    if path.suffix.lower() not in (".parquet", ".pq", ".csv", ".txt"):
        raise KnowItDataError(f"data_import.raw_data: {path.name}: unsupported file type; use .csv, .parquet or .npz")
    rows = int(batch_rows or DEFAULT_BATCH_ROWS)

    def read() -> Iterator[tuple[int, pd.DataFrame]]:
        first = 0
        try:
            reader = _file_batches(path, rows)
            while True:
                try:
                    df = next(reader)
                except StopIteration:
                    break
                if len(df):
                    yield first, df
                    first += len(df)
        except KnowItDataError:
            raise
        except Exception as err:  # noqa: BLE001 - any reader failure is a bad file to the user
            raise _cannot_read(path, err) from None
        if first == 0:
            raise KnowItDataError(f"data_import.raw_data: {path.name} holds no rows")

    return read


class SeriesImport:
    """One streaming import into ``folder``: ``take(rows(batch, first_row))`` per batch, then ``finish()``."""

    def __init__(self, meta: Mapping[str, Any], folder: Path, batch_rows: int):
        self.meta, self.folder, self.batch_rows = meta, Path(folder), batch_rows
        self.method = meta.get("nan_handling", "split")
        self.columns: list[str] | None = None
        self.time_kind: str | None = None
        self.time_column: str | None = None  # the table's column that held the time (None: index or row numbers)
        self.zones: set[str | None] = set()
        self.cols = None
        self.left_out = LeftOut()  # ignored text columns that look like times or instance names
        self.known: dict[str, dict[Any, int]] = {}  # label column -> class -> code (first seen)
        self.has_value: dict[str, bool] = {}  # numeric component -> a non-missing cell was seen
        self.rows_seen: dict[str, int] = {}  # instance -> rows so far (time_kind 'index')
        self.n_in = self.duplicate = self.missing = self.n_out = 0
        self.last_key: tuple[Any, Any] | None = None
        self.held: pd.DataFrame | None = None  # rows an interpolation cannot fill yet
        self.runs: list[tuple[str, int]] = []  # (instance, its first stored row)
        self.observed = None  # the rows' own steps when a frequency was declared (frequency.TimeStep)
        self.class_rows: dict[str, np.ndarray] = {}
        self.values: NpyAppender | None = None
        self.times: NpyAppender | None = None
        self.filled: dict[str, Any] = {}  # what meta.fill_gaps filled (SeriesData.filled_gaps)
        self.filled_runs = np.zeros((0, 2), dtype=np.int64)  # (first row, rows) of each filled gap

    # -- each batch on its own ---------------------------------------------------------------
    def rows(self, df: pd.DataFrame, first_row: int) -> pd.DataFrame:
        """The batch checked and converted: ``__instance__``, ``__time__`` and float64 components
        (labels as codes), indexed by table row."""
        meta = self.meta
        df.columns = [str(c) for c in df.columns]
        if self.columns is None:
            dup = df.columns[df.columns.duplicated()]
            if len(dup):
                raise KnowItDataError(f"data_import.raw_data: column {dup[0]!r} appears more than once")
            reserved = [c for c in df.columns if c in INTERNAL]
            if reserved:
                raise KnowItDataError(f"data_import.raw_data: column name {reserved[0]!r} is reserved for knowit's own use; rename the column")
            self.columns = list(df.columns)
        time_column = time_column_of(df, meta)
        df, time_kind, tz = time_values(df, meta, first_row)
        if self.time_kind is None:
            self.time_kind, self.time_column = time_kind, time_column
        elif time_kind != self.time_kind:
            raise KnowItDataError(f"meta.time_column: rows from {first_row} on hold {time_kind} times, the rows before {self.time_kind} times")
        self.zones.add(tz)

        inst_col = meta.get("instance_column", "instance")
        instance_named = inst_col in df.columns
        if instance_named:
            df["__instance__"] = df.pop(inst_col).astype(str)
        elif meta.get("instance_column") is not None:
            raise KnowItDataError(f"meta.instance_column: no column {inst_col!r}; columns: {', '.join(c for c in df.columns if c not in INTERNAL)}")
        else:
            df["__instance__"] = "0"
        if self.cols is None:  # the first batch decides which columns are components
            self.cols = resolve_columns(df, meta)
            self.left_out = left_out_columns(df, self.cols.ignored, instance_named=instance_named)
            self.known = {c: {} for c in self.cols.components if c in self.cols.labels}
            self.has_value = {c: False for c in self.cols.components if c not in self.cols.labels}
        table = {"__instance__": df["__instance__"].to_numpy(), "__time__": df["__time__"].to_numpy()}
        for col in self.cols.components:
            if col in self.known:
                table[col] = label_codes(df[col], self.known[col])
            else:
                table[col] = numeric_column(df, col, coerce=meta["coerce"], first_row=first_row)
                self.has_value[col] = self.has_value[col] or not np.isnan(table[col]).all()
        out = pd.DataFrame(table, index=pd.RangeIndex(first_row, first_row + len(df)))
        if time_kind == "index":  # row numbers per instance, continued across batches
            codes, names = pd.factorize(out["__instance__"])
            base = np.array([self.rows_seen.get(n, 0) for n in names], dtype=np.int64)
            out["__time__"] = (out.groupby("__instance__", sort=False).cumcount().to_numpy() + base[codes]).astype("float64")
            for name, start, count in zip(names, base, np.bincount(codes, minlength=len(names))):
                self.rows_seen[name] = int(start + count)
        return out

    # -- the batches in order ----------------------------------------------------------------
    def take(self, df: pd.DataFrame) -> None:
        """Sort the batch, drop repeated timestamps (also of the last row taken) and missing rows,
        and append what is left to the store's files."""
        self.n_in += len(df)
        df, repeats = drop_duplicate_times(df)
        if self.last_key is not None and len(df):
            inst, t = df["__instance__"].to_numpy(), df["__time__"].to_numpy()
            last_inst, last_t = self.last_key
            lead = (inst == last_inst) & (t == last_t)  # sorted: repeats of the last row come first
            k = len(df) if lead.all() else int(np.argmin(lead))
            repeats += k
            df = df.iloc[k:]
            if len(df) and (inst[k] < last_inst or (inst[k] == last_inst and t[k] < last_t)):
                raise _Unsorted(int(df.index[0]))
        self.duplicate += repeats
        if len(df):
            self.last_key = (df["__instance__"].to_numpy()[-1], df["__time__"].to_numpy()[-1])
        if self.method == "split":
            self._store(df)
        else:
            self._fill(df, final=False)

    def _fill(self, df: pd.DataFrame, *, final: bool) -> None:
        """Interpolate what can be filled now: everything before the last row of the last
        instance that has every value (that row and the rest wait for the next batch)."""
        work = df if self.held is None else pd.concat([self.held, df])
        if not len(work):
            return
        cut = len(work)
        if not final:
            components = self.cols.components
            inst = work["__instance__"].to_numpy()
            start = int(np.argmax(inst == inst[-1]))
            complete = np.nonzero(~work[components].iloc[start:].isna().any(axis=1).to_numpy())[0]
            cut = start + (int(complete[-1]) if len(complete) else 0)
        if cut:
            self._store(interpolate_missing(work, self.cols.components, self.method).iloc[:cut])
        self.held = work.iloc[cut:]

    def _store(self, df: pd.DataFrame) -> None:
        components = self.cols.components
        df, missing = drop_missing_rows(df, components)
        self.missing += missing
        if not len(df):
            return
        if self.values is None:
            self.values = NpyAppender(self.folder / VALUES_FILE, np.float32, (len(components),))
            self.times = NpyAppender(self.folder / TIMES_FILE, np.float64)
        times = df["__time__"].to_numpy()
        if self.time_kind == "datetime":
            times = times.astype("datetime64[ns]").astype(np.int64)
        self.values.append(df[components].to_numpy(dtype=np.float32))
        self.times.append(times.astype(np.float64))
        inst = df["__instance__"].to_numpy()
        for pos in np.concatenate([[0], np.nonzero(inst[1:] != inst[:-1])[0] + 1]).tolist():
            if not self.runs or self.runs[-1][0] != inst[pos]:
                self.runs.append((inst[pos], self.n_out + pos))
        self.n_out += len(df)
        for col, known in self.known.items():
            counts = np.bincount(df[col].to_numpy(dtype=np.int64), minlength=len(known))
            before = self.class_rows.get(col, np.zeros(0, dtype=np.int64))
            counts[: len(before)] += before
            self.class_rows[col] = counts

    def close(self) -> None:
        for appender in (self.values, self.times):
            if appender is not None:
                appender.close()

    # -- after the stream --------------------------------------------------------------------
    def _time_chunks(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(first row, times, instance index) over the stored rows, read from ``times.npy`` (not
        mapped), each chunk starting with the previous chunk's last row."""
        starts = np.array([start for _, start in self.runs], dtype=np.int64)
        lo, last = 0, np.zeros(0, dtype=np.float64)
        for block in npy_blocks(self.folder / TIMES_FILE, self.batch_rows):
            t = np.concatenate([last, block])
            rows = np.arange(lo, lo + len(t))
            yield lo, (stored_ns(t) if self.time_kind == "datetime" else t), np.searchsorted(starts, rows, side="right") - 1
            lo, last = lo + len(t) - 1, block[-1:]

    def _relabel(self, components: list[str]) -> tuple[dict[str, list[str]], dict[str, dict[str, int]]]:
        """Class names in sorted order; codes in ``values.npy`` renumbered where they were not."""
        categories, class_counts = {}, {}
        for col, known in self.known.items():
            names, renumber = sorted_classes(known)
            counts = np.zeros(len(names), dtype=np.int64)
            rows = self.class_rows.get(col, np.zeros(len(names), dtype=np.int64))
            counts[renumber[: len(rows)]] = rows
            if (renumber != np.arange(len(renumber))).any():
                values = np.load(self.folder / VALUES_FILE, mmap_mode="r+")
                j = components.index(col)
                for start in range(0, len(values), self.batch_rows):
                    block = values[start:start + self.batch_rows, j]
                    values[start:start + self.batch_rows, j] = renumber[block.astype(np.int64)]
                values.flush()
                del values
            categories[col] = names
            class_counts[col] = {c: int(k) for c, k in zip(names, counts)}
        return categories, class_counts

    def _step(self, instances: list[str], tz: str | None) -> tuple[str | None, float]:
        meta, name, kind = self.meta, self.meta["name"], self.time_kind
        freq, delta = meta.get("freq"), declared_step(meta, kind)
        if freq is None and delta is None:
            counter = StepCounter(dates=kind == "datetime", tz=tz)
            for _, t, inst in self._time_chunks():
                counter.feed(t, inst)
            step = counter.result()
            if step.regular_share < REGULAR_SHARE and self.n_out > len(instances):
                raise KnowItDataError(
                    f"data_import.raw_data: the time steps of {name!r} are irregular (the most common step covers "
                    f"{step.regular_share:.0%} of them); {HOW_TO_DECLARE}{irregular_hint(step, kind == 'datetime')}"
                )
            return step.freq, step.delta
        if freq is not None:
            if kind != "datetime":
                raise KnowItDataError("meta.freq: a frequency needs dates in the time column; give meta.time_delta for numeric times")
            counter = StepCounter(dates=False)
            for _, t, inst in self._time_chunks():
                counter.feed(t, inst)
            self.observed = counter.result()  # the steps the rows really have, for a refusal below
            return freq, self.observed.delta
        return (tick_alias(delta) if kind == "datetime" else None), delta

    def _fill_missing_periods(self, freq: str | None, delta: float, tz: str | None) -> None:
        """Rewrite the stored rows with the gaps of up to ``meta.fill_gaps`` missing periods
        filled (``knowit.data.gaps``), a block at a time (each block starting with the block
        before's last row, so a gap across blocks is seen), and say what was filled."""
        limit, components = int(self.meta["fill_gaps"]), self.cols.components
        labels = np.array([c in self.known for c in components])
        paths = {VALUES_FILE: self.folder / f"filled-{VALUES_FILE}", TIMES_FILE: self.folder / f"filled-{TIMES_FILE}"}
        values_out = NpyAppender(paths[VALUES_FILE], np.float32, (len(components),))
        times_out = NpyAppender(paths[TIMES_FILE], np.float64)
        ends, counts, starts, longer = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], 0
        last_values, last_times = np.zeros((0, len(components)), dtype=np.float32), np.zeros(0, dtype=np.float64)
        readers = (self._time_chunks(), npy_blocks(self.folder / VALUES_FILE, self.batch_rows), npy_blocks(self.folder / TIMES_FILE, self.batch_rows))
        try:
            for (lo, t, inst), value_block, time_block in zip(*readers):
                rows, stored_t = np.concatenate([last_values, value_block]), np.concatenate([last_times, time_block])
                steps = step_counts(t, inst, freq=freq, delta=delta, tz=tz, first_row=lo)
                chunk = fill_chunk(t, stored_t, rows, steps, limit=limit, method=self.method, labels=labels, freq=freq, delta=delta, tz=tz)
                skip = len(last_values)  # the block before's last row, written with that block
                starts.append(values_out.rows + chunk.starts - skip)
                values_out.append(chunk.values[skip:])
                times_out.append(chunk.times[skip:])
                ends.append(lo + chunk.after + 1)
                counts.append(chunk.counts)
                longer += chunk.longer
                for col, known in self.known.items():  # the filled rows' labels join the class counts
                    have = self.class_rows.get(col, np.zeros(0, dtype=np.int64))
                    add = np.bincount(chunk.filled[:, components.index(col)].astype(np.int64), minlength=len(have))
                    add[: len(have)] += have
                    self.class_rows[col] = add
                last_values, last_times = value_block[-1:], time_block[-1:]
        finally:
            for reader in readers:  # their files closed before the new ones replace them
                reader.close()
            values_out.close()
            times_out.close()
        for name, path in paths.items():
            os.replace(path, self.folder / name)
        ends_all, counts_all = np.concatenate(ends), np.concatenate(counts)
        before = np.concatenate([[0], np.cumsum(counts_all)])  # rows filled before each stored row, by searchsorted
        self.runs = [(inst, start + int(before[np.searchsorted(ends_all, start, side="right")])) for inst, start in self.runs]
        self.n_out += int(counts_all.sum())
        self.filled = {"gaps": int(len(counts_all)), "rows": int(counts_all.sum()), "longer_gaps": longer,
                       "up_to": limit, "by": self.method}
        self.filled_runs = np.stack([np.concatenate(starts), counts_all], axis=1)

    def finish(self) -> SeriesData:
        """Check what needs the whole table, find the step, cut the slices, write meta.json."""
        if self.method != "split":
            self._fill(self.held.iloc[:0] if self.held is not None else pd.DataFrame(), final=True)
        self.close()
        meta, name = self.meta, self.meta["name"]
        for col, seen in self.has_value.items():
            if not seen:
                others = [c for c in self.cols.components if c != col]
                hint = f"; leave it out by naming the others: meta.components {','.join(others)}" if others and not meta["components"] else ""
                raise KnowItDataError(f"meta.components: column {col!r} holds only missing values{hint}")
        dropped = {"of": self.n_in, "duplicate": self.duplicate, "missing": self.missing}
        if self.time_kind == "index":
            warn_unused_time(name, self.left_out)
        report_drops(name, dropped, self.left_out)
        if self.n_out == 0:
            raise KnowItDataError("data_import.raw_data: no row is free of missing values")
        components = self.cols.components
        instances = [inst for inst, _ in self.runs]
        tz = next(iter(self.zones)) if len(self.zones) == 1 else None
        freq, delta = self._step(instances, tz)
        if meta.get("fill_gaps"):
            self._fill_missing_periods(freq, delta, tz)
        categories, class_counts = self._relabel(components)
        values, times = open_rows(self.folder)
        starts, owners = [np.zeros(1, dtype=np.int64)], [np.zeros(1, dtype=np.int64)]
        short_gaps = np.zeros(SHORT_GAP + 1, dtype=np.int64)  # gaps by missing periods (fillable ones)
        for lo, t, inst in self._time_chunks():
            steps = step_counts(t, inst, freq=freq, delta=delta, tz=tz, first_row=lo)
            new = np.nonzero(steps != 1)[0]
            starts.append(new + lo + 1)
            owners.append(inst[new + 1])
            short_gaps += np.bincount(np.clip(steps - 1, 0, SHORT_GAP + 1), minlength=SHORT_GAP + 2)[: SHORT_GAP + 1]
        starts_all = np.concatenate(starts)
        lengths = np.diff(np.concatenate([starts_all, [self.n_out]]))
        slices = np.stack([np.concatenate(owners), starts_all, lengths], axis=1).astype(np.int64).reshape(-1, 3)
        # not only the rows dropped for a missing value (told above): each of those is one missing period
        if (short_gaps[1:] * np.arange(1, SHORT_GAP + 1)).sum() > self.missing:
            step = step_in_words(freq, delta, self.time_kind)
            _suggest_filling(name, short_gaps, len(slices), f"{step} each" if self.time_kind == "datetime" else f"a step is {step}", self.method)
        data = SeriesData(
            name=name, components=components, values=values, times=times, slices=slices, instances=instances,
            time_delta=float(delta), time_kind=self.time_kind, freq=freq, tz=tz, categories=categories,
            class_counts=class_counts, targets=self.cols.targets, description=str(meta.get("description", "")),
            dropped_rows=dropped, ignored_columns=self.cols.ignored, time_column=self.time_column,
            time_format=meta.get("time_format") if self.time_column is not None else None, filled_gaps=self.filled,
            filled_runs=self.filled_runs,
        )
        longest = int(slices[:, 2].max())
        if longest < meta["min_rows"]:
            raise KnowItDataError(
                f"data_import.raw_data: the longest contiguous slice of {name!r} has {longest} rows, fewer than "
                f"{meta['min_rows']} (one window of the default config); set meta.min_rows (--min-rows) to import it anyway"
                + _filling_hint(short_gaps, self.method)
                + ("" if freq else f", or {HOW_TO_DECLARE}")
                + (irregular_hint(self.observed, True) if self.observed is not None and self.observed.regular_share < REGULAR_SHARE else "")
            )
        # the store's files read (not mapped) block by block: the series may exceed RAM
        data.content_hash = data.fingerprint((npy_blocks(self.folder / VALUES_FILE, self.batch_rows),
                                              npy_blocks(self.folder / TIMES_FILE, self.batch_rows)))
        return data


SHORT_GAP = 7  # missing periods in a row that the import suggests filling (a week of days)


def _fill_setting(longest: int, method: str) -> str:
    """The meta that fills gaps of up to ``longest`` periods (with ``nan_handling`` when it fills nothing)."""
    return f"meta.fill_gaps={longest}" + (" and meta.nan_handling=linear" if method == "split" else "")


def _filling_hint(gaps: np.ndarray, method: str) -> str:
    """For the too-short refusal: short gaps are what cut the series, and filling them joins it."""
    if not gaps[1:].any():
        return ""
    longest = int(np.nonzero(gaps)[0].max())
    return f", or fill its gaps of up to {longest} missing period{'s' if longest > 1 else ''}: {_fill_setting(longest, method)}"


def _suggest_filling(name: str, gaps: np.ndarray, n_slices: int, step: str, method: str) -> None:
    """Gaps of a few missing periods cut the series; each costs every window that spans it."""
    sizes = np.nonzero(gaps[1:])[0] + 1
    n, span = int(gaps[1:].sum()), f"{sizes[0]}" if sizes[0] == sizes[-1] else f"{sizes[0]} to {sizes[-1]}"
    warnings.warn(
        f"dataset {name!r}: {'a gap' if n == 1 else f'{n} gaps'} of {span} missing period{'s' if sizes[-1] > 1 else ''} ({step}) "
        f"cut{'s' if n == 1 else ''} the series into {n_slices} slices, and no window spans a gap; to fill them (each missing row "
        f"valued from its neighbours): {_fill_setting(int(sizes[-1]), method)}",
        stacklevel=4,
    )


def stream_series(batches: Batches, meta: Mapping[str, Any], folder: Path, batch_rows: int | None = None, source: str = "the table") -> SeriesData:
    """Import the batches into the store folder ``folder`` (checked ``meta``); see the module doc."""
    rows = int(batch_rows or DEFAULT_BATCH_ROWS)
    job = SeriesImport(meta, folder, rows)
    try:
        for first, df in batches():
            job.take(job.rows(df, first))
        return job.finish()
    except _Unsorted as unsorted:
        where = unsorted.row
    finally:
        job.close()
    warnings.warn(
        f"dataset {meta['name']!r}: {source} is not sorted by instance and time (table row {where} sorts before "
        "rows read earlier); it was read again and sorted in memory, whole. Sort it by instance and time to "
        "import it in batches of bounded memory",
        stacklevel=3,
    )
    job = SeriesImport(meta, folder, rows)
    try:
        whole = pd.concat([job.rows(df, first) for first, df in batches()])
        job.take(whole)
        return job.finish()
    finally:
        job.close()

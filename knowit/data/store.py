"""The dataset store under ``<exp_dir>/datasets/<name>/``, for both kinds of dataset: a series
(``knowit.data.series``) as ``values.npy`` + ``times.npy`` + ``meta.json``, an array dataset
(``knowit.data.arrays``) as ``arrays.npz`` + ``meta.json``. Every dataset is written into a
temporary folder and moved into place in one rename.

A stored series is one float32 array of rows (instance-major, time-sorted) plus the slice table
that says which rows are contiguous in time. ``values.npy`` (float32, ``(n_rows, n_components)``)
and ``times.npy`` (float64) are opened memory-mapped and read-only: a run reads only the pages
its batches touch, a series larger than RAM trains, and every process of a DDP run maps the same
files, so the page cache holds one copy for all of them. Nothing is pickled.

Stores written before format 2 kept values and times in ``data.parquet``; such a dataset is
converted to the two ``.npy`` files on first use (each written beside its target and renamed).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from knowit.atomic_io import read_json, umask_mode, write_json
from knowit.data.arrays import ArrayData, array_meta
from knowit.data.series import SeriesData
from knowit.errors import KnowItDataError

FORMAT_VERSION = 2  # 2: values.npy + times.npy (1: data.parquet)
TIME_COLUMN = "__time__"


VALUES_FILE, TIMES_FILE, LEGACY_FILE = "values.npy", "times.npy", "data.parquet"


def _read_parquet_columns(path: Path, components: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rows as one float32 array and times as float64 from a format-1 ``data.parquet``, read one
    column at a time into preallocated arrays."""
    import pyarrow
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    n = parquet.metadata.num_rows
    values = np.empty((n, len(components)), dtype=np.float32)
    for j, column in enumerate(components):
        values[:, j] = parquet.read(columns=[column]).column(0).to_numpy()
    times = np.array(parquet.read(columns=[TIME_COLUMN]).column(0).to_numpy(), dtype=np.float64)
    pyarrow.default_memory_pool().release_unused()  # hand the column buffers back to the system
    return values, times


def write_npy(path: Path, array: np.ndarray) -> None:
    """``np.save`` beside ``path``, then one rename: readers see the whole file or none."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _convert_legacy(folder: Path, components: list[str]) -> None:
    """A format-1 dataset (``data.parquet``) gets its ``.npy`` files; ``values.npy`` comes last,
    so its presence means the conversion finished. Concurrent converters (DDP ranks) write the
    same bytes under their own temporary names."""
    try:
        values, times = _read_parquet_columns(folder / LEGACY_FILE, components)
    except FileNotFoundError:
        if (folder / VALUES_FILE).is_file():  # another process converted it a moment ago
            return
        raise
    write_npy(folder / TIMES_FILE, times)
    write_npy(folder / VALUES_FILE, values)
    (folder / LEGACY_FILE).unlink(missing_ok=True)  # its values now live in the .npy files


def open_rows(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """``values`` and ``times`` of a stored series, memory-mapped read-only."""
    return np.load(folder / VALUES_FILE, mmap_mode="r"), np.load(folder / TIMES_FILE, mmap_mode="r")


def as_tensor(array: np.ndarray) -> "torch.Tensor":
    """A CPU tensor over ``array``'s memory, also for a read-only memory map (knowit never writes
    through it; torch warns about writability once per process otherwise)."""
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not writable.*")
        return torch.from_numpy(array)


def npy_blocks(path: Path, rows: int) -> Iterator[np.ndarray]:
    """The rows of an ``.npy`` file, ``rows`` at a time, read rather than mapped: the pages pass
    through the page cache without staying resident in this process (a pass over a series
    larger than RAM)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(fh)
        if fortran:
            raise ValueError(f"{path.name}: Fortran-ordered arrays are not a knowit store file")
        per_row = int(np.prod(shape[1:], dtype=np.int64))
        for start in range(0, shape[0], rows):
            k = min(rows, shape[0] - start)
            yield np.fromfile(fh, dtype=dtype, count=k * per_row).reshape(k, *shape[1:])


class NpyAppender:
    """An ``.npy`` file written block of rows by block when the row count is known only at the end.

    The header is written with room for any row count and rewritten by ``close()`` with the
    real shape (same length, padded with spaces, as the format allows), so the file is a plain
    ``.npy`` that ``np.load(mmap_mode="r")`` opens.
    """

    HEADER_BYTES = 128  # magic + version + length + dict text; a multiple of 64 keeps the data aligned

    def __init__(self, path: Path, dtype: Any, row_shape: tuple[int, ...] = ()):
        self.path, self.dtype, self.row_shape, self.rows = Path(path), np.dtype(dtype), tuple(row_shape), 0
        self.fh = open(self.path, "wb")
        self.fh.write(self._header())

    def _header(self) -> bytes:
        shape = (self.rows, *self.row_shape)
        text = "{'descr': %r, 'fortran_order': False, 'shape': %r, }" % (self.dtype.str, shape)
        text = text.ljust(self.HEADER_BYTES - 10 - 1) + "\n"
        return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin1")

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {block.shape[1:]}, expected {self.row_shape}")
        self.fh.write(memoryview(block).cast("B"))
        self.rows += len(block)

    def close(self) -> None:
        if self.fh.closed:
            return
        self.fh.seek(0)
        self.fh.write(self._header())
        self.fh.close()


class DatasetStore:
    """Datasets kept under one experiment directory."""

    def __init__(self, exp_dir: str | os.PathLike):
        self.root = Path(exp_dir) / "datasets"

    def path(self, name: str) -> Path:
        return self.root / name

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "meta.json").is_file())

    def exists(self, name: str) -> bool:
        return (self.path(name) / "meta.json").is_file()

    def kind(self, name: str) -> str:
        """``series`` or ``arrays``: which of the two kinds of dataset ``name`` is."""
        return "arrays" if self.meta(name).get("kind") == "arrays" else "series"

    def meta(self, name: str) -> dict[str, Any]:
        path = self.path(name) / "meta.json"
        if not path.is_file():
            raise KnowItDataError(f"data.name: no dataset {name!r} in {self.root}; stored: {', '.join(self.names()) or 'none'}")
        try:
            return read_json(path)
        except (ValueError, OSError) as err:
            raise KnowItDataError(f"data.name: metadata of dataset {name!r} is unreadable ({path}): {err}") from None

    def _commit(self, name: str, fill: Any, overwrite: bool) -> None:
        """Write a dataset into a temporary folder, then move it into place in one rename."""
        target = self.path(name)
        if target.exists() and not overwrite:
            raise KnowItDataError(f"meta.name: dataset {name!r} already exists in {self.root}; pass overwrite=True to replace it")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.root))
        except OSError as err:  # a read-only folder, a file where the folder should be
            raise KnowItDataError(f"exp_dir: cannot write dataset {name!r} into {self.root}: {err.strerror or err}") from None
        try:
            os.chmod(tmp, umask_mode(directory=True))  # mkdtemp makes it 0700; it becomes the dataset's folder
            fill(tmp)
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{name}.old.", dir=self.root))
                os.replace(target, old / name)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
        except OSError as err:  # a full disk: the store keeps what it had
            shutil.rmtree(tmp, ignore_errors=True)
            raise KnowItDataError(f"exp_dir: cannot write dataset {name!r} into {self.root}: {err.strerror or err}") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def save_series(self, data: SeriesData, *, overwrite: bool = False) -> None:
        def fill(folder: Path) -> None:
            np.save(folder / VALUES_FILE, np.ascontiguousarray(data.values, dtype=np.float32), allow_pickle=False)
            np.save(folder / TIMES_FILE, np.ascontiguousarray(data.times, dtype=np.float64), allow_pickle=False)
            write_json(folder / "meta.json", {"format_version": FORMAT_VERSION, **data.meta()})

        self._commit(data.name, fill, overwrite)

    def save_series_streamed(self, name: str, write: Callable[[Path], SeriesData], *, overwrite: bool = False) -> None:
        """A series whose ``values.npy`` and ``times.npy`` ``write(folder)`` writes itself (batch
        by batch, see ``NpyAppender``), returning what it wrote; the store adds ``meta.json`` and
        moves the folder into place only if ``write`` returns (an error leaves the store as it was)."""
        def fill(folder: Path) -> None:
            data = write(folder)
            write_json(folder / "meta.json", {"format_version": FORMAT_VERSION, **data.meta()})

        self._commit(name, fill, overwrite)

    def save_arrays(self, data: ArrayData, *, overwrite: bool = False) -> None:
        arrays, meta = {"x": data.x, "y": data.y}, array_meta(data)
        digest = hashlib.sha256()
        for key in sorted(arrays):
            digest.update(key.encode() + str(arrays[key].shape).encode() + np.ascontiguousarray(arrays[key]).tobytes())
        digest.update(json.dumps(meta, sort_keys=True, default=str).encode())

        def fill(folder: Path) -> None:
            np.savez(folder / "arrays.npz", **arrays)
            write_json(folder / "meta.json", {"format_version": FORMAT_VERSION, "kind": "arrays", "name": data.name, **meta, "content_hash": digest.hexdigest()})

        self._commit(data.name, fill, overwrite)

    def load_series(self, name: str) -> SeriesData:
        meta = self.meta(name)
        if meta.get("kind") != "series":
            raise KnowItDataError(f"data.name: dataset {name!r} holds arrays, not a time series")
        folder = self.path(name)
        try:
            if not (folder / VALUES_FILE).is_file():
                _convert_legacy(folder, list(meta["components"]))
            values, times = open_rows(folder)
        except Exception as err:  # noqa: BLE001 - a damaged store file is a data error for the user
            raise KnowItDataError(f"data.name: data of dataset {name!r} is unreadable: {err}") from None
        if values.shape != (int(meta["n_rows"]), len(meta["components"])) or times.shape != (values.shape[0],):
            raise KnowItDataError(
                f"data.name: data of dataset {name!r} is unreadable: {VALUES_FILE} holds {values.shape}, "
                f"meta.json says {int(meta['n_rows'])} rows x {len(meta['components'])} components"
            )
        return SeriesData.from_meta({**meta, "name": name}, values, times)

    def content_hash(self, name: str) -> str:
        """The stored dataset's content hash (what runs record to notice a changed dataset)."""
        return str(self.meta(name).get("content_hash", ""))

    def load_arrays(self, name: str) -> ArrayData:
        """An array dataset (``allow_pickle=False``: no object arrays, ever; stored class codes checked)."""
        meta = self.meta(name)
        if meta.get("kind") != "arrays":
            raise KnowItDataError(f"data.name: dataset {name!r} is a time series, not an array dataset")
        try:
            with np.load(self.path(name) / "arrays.npz", allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception as err:  # noqa: BLE001 - a damaged store file is a data error for the user
            raise KnowItDataError(f"data.name: arrays of dataset {name!r} are unreadable: {err}") from None
        if meta.get("class_names") is not None:
            from knowit.data.classes import check_stored_codes

            check_stored_codes(arrays["y"], meta["class_names"], name, "y")
        return ArrayData.from_meta({**meta, "name": name}, arrays["x"], arrays["y"])

    def summarize(self, name: str) -> dict[str, Any]:
        meta = self.meta(name)
        if meta.get("kind") != "series":
            return {k: v for k, v in meta.items() if k != "format_version"}
        from knowit.data.frequency import step_in_words

        keys = ("name", "kind", "components", "instances", "time_kind", "freq", "tz", "n_rows", "categories", "class_counts", "targets", "description", "dropped_rows", "filled_gaps", "ignored_columns", "content_hash")
        out = {k: meta.get(k) for k in keys}
        out["time_step"] = step_in_words(meta.get("freq"), float(meta["time_delta"]), meta.get("time_kind", "numeric"))
        if meta.get("time_kind") != "datetime":
            out["time_delta"] = meta["time_delta"]
        slices = np.asarray(meta["slices"], dtype=np.int64).reshape(-1, 3)
        out["n_slices"] = int(len(slices))
        out["slice_length"] = {"min": int(slices[:, 2].min()), "max": int(slices[:, 2].max()), "mean": float(slices[:, 2].mean())}
        return out

"""The dataset store under ``<exp_dir>/datasets/<name>/``: ``values.npy`` + ``times.npy`` + ``meta.json``.

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
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import numpy as np

from knowit.atomic_io import read_json, umask_mode, write_json
from knowit.errors import KnowItDataError

FORMAT_VERSION = 2  # 2: values.npy + times.npy (1: data.parquet)
TIME_COLUMN = "__time__"


@dataclass
class SeriesData:
    """A stored time series: rows of ``values`` grouped into contiguous ``slices``.

    ``slices`` is an int64 array ``(n_slices, 3)`` of (instance index, first row, length).
    ``times`` are float64: nanoseconds since the epoch for dates, else the time value itself.
    """

    name: str
    components: list[str]
    values: np.ndarray  # (n_rows, n_components) float32; loaded from the store: read-only, memory-mapped
    times: np.ndarray  # (n_rows,) float64; loaded from the store: read-only, memory-mapped
    slices: np.ndarray  # (n_slices, 3) int64
    instances: list[str]
    time_delta: float
    time_kind: str = "numeric"  # numeric | datetime | index
    categories: dict[str, list[str]] = field(default_factory=dict)  # label column -> class names (codes index them)
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # label column -> rows per class
    targets: list[str] = field(default_factory=list)
    description: str = ""
    # The calendar-aware step: a pandas frequency alias (``MS``, ``B``, ``YS-JAN``, ``h``) or None
    # when only a fixed ``time_delta`` is known. ``tz``: the zone calendar periods are read in.
    freq: str | None = None
    tz: str | None = None
    dropped_rows: dict[str, int] = field(default_factory=dict)  # of / duplicate / missing, at import
    ignored_columns: list[str] = field(default_factory=list)  # text columns the import left out
    content_hash: str = ""  # sha256 of the stored rows, times and slices (set when saved or loaded)

    @classmethod
    def from_breaks(cls, *, breaks: np.ndarray, instance_idx: np.ndarray, instances: list[str], **kw: Any) -> SeriesData:
        """Slices from a per-row break mask (``breaks[i]``: row ``i + 1`` starts a new slice)."""
        n = len(kw["times"])
        starts = np.concatenate([[0], np.nonzero(breaks)[0] + 1]).astype(np.int64)
        lengths = np.diff(np.concatenate([starts, [n]])).astype(np.int64)
        slices = np.stack([np.asarray(instance_idx)[starts], starts, lengths], axis=1).astype(np.int64).reshape(-1, 3)
        return cls(instances=instances, slices=slices, **kw)

    @classmethod
    def from_rows(cls, *, instance_of_row: np.ndarray, instances: list[str], **kw: Any) -> SeriesData:
        """Slices cut wherever the instance changes or the step differs from ``time_delta`` / ``freq``."""
        from knowit.data.frequency import slice_breaks

        inst_idx = _index_of(instance_of_row, instances)
        times = kw["times"]
        if kw.get("freq") is not None:
            times = np.asarray(times).astype(np.int64)
        breaks = slice_breaks(times, inst_idx, freq=kw.get("freq"), delta=kw["time_delta"], tz=kw.get("tz"))
        return cls.from_breaks(breaks=breaks, instance_idx=inst_idx, instances=instances, **kw)

    @property
    def time_step(self) -> str:
        """The step in words: ``1 month``, ``1 business day``, ``1 h``."""
        from knowit.data.frequency import step_in_words

        return step_in_words(self.freq, self.time_delta, self.time_kind)

    def fingerprint(self, folder: Path | None = None) -> str:
        """sha256 over the rows, times, slices, components and class names: equal for equal data.
        With ``folder``, the rows and times are read from its store files block by block
        (``npy_blocks``) instead of from ``values``/``times``; the digest is the same."""
        digest = hashlib.sha256()
        for array, name in ((self.values, VALUES_FILE), (self.times, TIMES_FILE)):
            if folder is None:
                update_digest(digest, array)
            else:
                for block in npy_blocks(Path(folder) / name, HASH_ROWS):
                    digest.update(block.tobytes())
        update_digest(digest, self.slices)
        digest.update(json.dumps([self.components, self.instances, self.categories, self.freq, self.time_delta], sort_keys=True).encode())
        return digest.hexdigest()

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    def component_index(self, names: list[str], key: str) -> np.ndarray:
        lookup = {c: i for i, c in enumerate(self.components)}
        missing = [n for n in names if n not in lookup]
        if missing:
            raise KnowItDataError(
                f"{key}: dataset {self.name!r} has no component {missing[0]!r}; components: {', '.join(self.components)}"
            )
        return np.array([lookup[n] for n in names], dtype=np.int64)

    def meta(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "kind": "series",
            "name": self.name,
            "components": self.components,
            "time_delta": self.time_delta,
            "time_kind": self.time_kind,
            "instances": self.instances,
            "slices": self.slices.tolist(),
            "n_rows": self.n_rows,
            "categories": self.categories,
            "class_counts": self.class_counts,
            "targets": self.targets,
            "description": self.description,
            "freq": self.freq,
            "tz": self.tz,
            "time_step": self.time_step,
            "dropped_rows": self.dropped_rows,
            "ignored_columns": self.ignored_columns,
            "content_hash": self.content_hash or self.fingerprint(),
        }


VALUES_FILE, TIMES_FILE, LEGACY_FILE = "values.npy", "times.npy", "data.parquet"
HASH_ROWS = 1 << 20  # rows hashed at a time: a mapped series larger than RAM is never copied whole


def update_digest(digest: Any, array: np.ndarray) -> None:
    """Feed ``array``'s C-order bytes to ``digest`` a block of rows at a time (same digest as one
    ``update(array.tobytes())``)."""
    if array.ndim == 0 or len(array) <= HASH_ROWS:
        digest.update(np.ascontiguousarray(array).tobytes())
        return
    for start in range(0, len(array), HASH_ROWS):
        digest.update(np.ascontiguousarray(array[start:start + HASH_ROWS]).tobytes())


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
    """An ``.npy`` file written row block by row block when the row count is known only at the end.

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


def _index_of(values: np.ndarray, names: list[str]) -> np.ndarray:
    lookup = {n: i for i, n in enumerate(names)}
    return np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))


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

    def meta(self, name: str) -> dict[str, Any]:
        path = self.path(name) / "meta.json"
        if not path.is_file():
            raise KnowItDataError(f"data.name: no dataset {name!r} in {self.root}; stored: {', '.join(self.names()) or 'none'}")
        try:
            return read_json(path)
        except (ValueError, OSError) as err:
            raise KnowItDataError(f"data.name: metadata of dataset {name!r} is unreadable ({path}): {err}") from None

    def commit(self, name: str, fill: Any, overwrite: bool) -> None:
        """Write a dataset into a temporary folder (``fill(folder)``), then move it into place in
        one rename: an error inside ``fill`` leaves the store as it was."""
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
            write_json(folder / "meta.json", data.meta())

        self.commit(data.name, fill, overwrite)

    def save_arrays(self, name: str, arrays: dict[str, np.ndarray], meta: dict[str, Any], *, overwrite: bool = False) -> None:
        digest = hashlib.sha256()
        for key in sorted(arrays):
            digest.update(key.encode() + str(arrays[key].shape).encode() + np.ascontiguousarray(arrays[key]).tobytes())
        digest.update(json.dumps(meta, sort_keys=True, default=str).encode())

        def fill(folder: Path) -> None:
            np.savez(folder / "arrays.npz", **arrays)
            write_json(folder / "meta.json", {"format_version": FORMAT_VERSION, "kind": "arrays", "name": name, **meta, "content_hash": digest.hexdigest()})

        self.commit(name, fill, overwrite)

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
        slices = np.asarray(meta["slices"], dtype=np.int64).reshape(-1, 3)
        return SeriesData(
            name=name,
            components=list(meta["components"]),
            values=values,
            times=times,
            slices=slices,
            instances=list(meta["instances"]),
            time_delta=float(meta["time_delta"]),
            time_kind=meta.get("time_kind", "numeric"),
            categories=dict(meta.get("categories") or {}),
            class_counts=dict(meta.get("class_counts") or {}),
            targets=list(meta.get("targets") or []),
            description=meta.get("description", ""),
            freq=meta.get("freq"),
            tz=meta.get("tz"),
            dropped_rows=dict(meta.get("dropped_rows") or {}),
            ignored_columns=list(meta.get("ignored_columns") or []),
            content_hash=meta.get("content_hash", ""),
        )

    def content_hash(self, name: str) -> str:
        """The stored dataset's content hash (what runs record to notice a changed dataset)."""
        return str(self.meta(name).get("content_hash", ""))

    def load_array_file(self, name: str) -> dict[str, np.ndarray]:
        """The arrays of an array dataset (``allow_pickle=False``: no object arrays, ever)."""
        try:
            with np.load(self.path(name) / "arrays.npz", allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except Exception as err:  # noqa: BLE001 - a damaged store file is a data error for the user
            raise KnowItDataError(f"data.name: arrays of dataset {name!r} are unreadable: {err}") from None

    def summarize(self, name: str) -> dict[str, Any]:
        meta = self.meta(name)
        if meta.get("kind") != "series":
            return {k: v for k, v in meta.items() if k != "format_version"}
        from knowit.data.frequency import step_in_words

        keys = ("name", "kind", "components", "instances", "time_kind", "freq", "tz", "n_rows", "categories", "class_counts", "targets", "description", "dropped_rows", "ignored_columns", "content_hash")
        out = {k: meta.get(k) for k in keys}
        out["time_step"] = step_in_words(meta.get("freq"), float(meta["time_delta"]), meta.get("time_kind", "numeric"))
        if meta.get("time_kind") != "datetime":
            out["time_delta"] = meta["time_delta"]
        slices = np.asarray(meta["slices"], dtype=np.int64).reshape(-1, 3)
        out["n_slices"] = int(len(slices))
        out["slice_length"] = {"min": int(slices[:, 2].min()), "max": int(slices[:, 2].max()), "mean": float(slices[:, 2].mean())}
        return out

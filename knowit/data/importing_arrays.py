"""Import a user's array dataset (a ``{'x', 'y'}`` mapping or an ``.npz`` file) into the store.

``arrays_from_raw`` checks the arrays and the metadata (numbers only, finite, float32-representable,
matching sample counts and shapes, class labels coded with their names in the metadata) and builds
the ``ArrayData``; ``import_arrays`` stores it. Nothing is written until every check has passed.
Tables (time series) are imported by ``knowit.data.importing``.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from knowit.data.arrays import ArrayData
from knowit.data.store import DatasetStore
from knowit.errors import KnowItDataError

ARRAY_KEYS = ("x", "y", "x_test", "y_test")
META_KEYS = {"name", "task", "channel_axis", "class_names", "description"}
TASKS = ("classification", "regression")


def read_arrays(raw: Any) -> dict[str, np.ndarray]:
    """The arrays of a ``{'x':…, 'y':…}`` mapping or of an ``.npz`` file (loaded without pickle)."""
    if isinstance(raw, Mapping):
        unknown = set(raw) - set(ARRAY_KEYS)
        if unknown:
            raise KnowItDataError(f"data_import.raw_data: unknown array {sorted(unknown)[0]!r}; allowed: {', '.join(ARRAY_KEYS)}")
        return {k: np.asarray(v) for k, v in raw.items() if v is not None}
    path = Path(raw)
    if not path.is_file():
        raise KnowItDataError(f"data_import.raw_data: file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            unknown = set(npz.files) - set(ARRAY_KEYS)
            if unknown:
                raise KnowItDataError(f"data_import.raw_data: {path.name} holds unknown array {sorted(unknown)[0]!r}; allowed: {', '.join(ARRAY_KEYS)}")
            return {k: npz[k] for k in npz.files}
    except KnowItDataError:
        raise
    except Exception as err:  # noqa: BLE001 - any reader failure (object arrays included) is a bad file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise KnowItDataError(f"data_import.raw_data: cannot read {path.name}: {first}") from None


def _numeric(name: str, a: np.ndarray) -> np.ndarray:
    if np.iscomplexobj(a):
        raise KnowItDataError(f"data_import.raw_data: array {name!r} is complex ({a.dtype}); store real and imaginary parts as two channels")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise KnowItDataError(f"data_import.raw_data: array {name!r} must be numeric, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise KnowItDataError(f"data_import.raw_data: array {name!r} holds {bad} NaN or infinite values")
    if a.dtype.kind == "f" and a.size and np.abs(a).max() > np.finfo(np.float32).max:
        raise KnowItDataError(f"data_import.raw_data: array {name!r} holds values beyond float32's range (up to {np.abs(a).max():g}); rescale it")
    return a


def _task_of(y: np.ndarray, meta: Mapping[str, Any]) -> str:
    task = meta.get("task")
    if task is not None:
        if task not in TASKS:
            raise KnowItDataError(f"meta.task: {task!r} is not one of {', '.join(TASKS)}")
        return task
    labels_like = y.ndim == 1 and (y.dtype.kind in "iubUS" or y.dtype == object)
    return "classification" if labels_like else "regression"


def _class_codes(y: np.ndarray, names: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """Integer codes and class names; labels are compared as strings so ints and strs both work."""
    if y.ndim != 1:
        raise KnowItDataError(f"data_import.raw_data: classification labels 'y' must have shape (N,), got {y.shape}")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.all(y == np.round(y)):
            raise KnowItDataError("data_import.raw_data: classification labels 'y' must be integers or strings (no NaN)")
        y = y.astype(np.int64)
    if y.dtype.kind in "iub":
        y = y.astype(np.int64)
        default = [str(v) for v in np.unique(y)]  # numeric order: "2" before "10"
    else:
        default = [str(v) for v in np.unique(y.astype(str))]
    text = y.astype(str)
    names = list(names) if names is not None else default
    lookup = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(default) - set(lookup))
    if unknown:
        raise KnowItDataError(f"meta.class_names: label {unknown[0]!r} is not listed; class_names: {', '.join(names)}")
    codes = np.fromiter((lookup[v] for v in text.tolist()), dtype=np.int64, count=len(text))
    return codes, names


def _default_channel_axis(sample_ndim: int) -> int:
    # (T, C) -> C; (T, rows, channels) -> channels; (T, C, H, W) -> C
    return 1 if sample_ndim == 4 else sample_ndim - 1


def arrays_from_raw(raw: Any, meta: Mapping[str, Any]) -> ArrayData:
    """Validate arrays and metadata; every problem is a KnowItDataError naming it."""
    meta = dict(meta or {})
    unknown = set(meta) - META_KEYS
    if unknown:
        raise KnowItDataError(f"meta.{sorted(unknown)[0]}: unknown key for an array dataset; allowed keys: {', '.join(sorted(META_KEYS))}")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise KnowItDataError("meta.name: every dataset needs a name")
    arrays = read_arrays(raw)
    for key in ("x", "y"):
        if key not in arrays:
            raise KnowItDataError(f"data_import.raw_data: array {key!r} is missing; give 'x' (N, T, ...) and 'y' (N, ...)")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise KnowItDataError("data_import.raw_data: a given test partition needs both 'x_test' and 'y_test'")
    x, y = _numeric("x", arrays["x"]), arrays["y"]
    if x.ndim not in (3, 4, 5):
        raise KnowItDataError(
            f"data_import.raw_data: 'x' must be (N, T, C), (N, T, rows, channels) or (N, T, C, H, W); got shape {x.shape}"
        )
    if x.shape[0] == 0 or 0 in x.shape:
        raise KnowItDataError(f"data_import.raw_data: 'x' holds no samples (shape {x.shape})")
    if len(y) != len(x):
        raise KnowItDataError(f"data_import.raw_data: 'y' has {len(y)} entries but 'x' has {len(x)} samples")
    xs, ys = [x], [y]
    if "x_test" in arrays:
        xt, yt = _numeric("x_test", arrays["x_test"]), arrays["y_test"]
        if xt.shape[1:] != x.shape[1:] or len(xt) == 0:
            raise KnowItDataError(f"data_import.raw_data: 'x_test' samples have shape {xt.shape[1:]}, 'x' samples {x.shape[1:]}")
        if len(yt) != len(xt):
            raise KnowItDataError(f"data_import.raw_data: 'y_test' has {len(yt)} entries but 'x_test' has {len(xt)} samples")
        if yt.shape[1:] != y.shape[1:]:
            raise KnowItDataError(f"data_import.raw_data: 'y_test' entries have shape {yt.shape[1:]}, 'y' entries {y.shape[1:]}")
        xs.append(xt)
        ys.append(yt)
    y_all = np.concatenate(ys)
    task = _task_of(y_all, meta)
    class_names = None
    if task == "classification":
        y_all, class_names = _class_codes(y_all, meta.get("class_names"))
    else:
        y_all = _numeric("y", y_all).astype(np.float32)
        if y_all.ndim == 1:
            y_all = y_all[:, None]
    sample_ndim = x.ndim - 1
    axis = meta.get("channel_axis", _default_channel_axis(sample_ndim))
    if not isinstance(axis, int) or not -sample_ndim <= axis < sample_ndim or axis % sample_ndim == 0:
        raise KnowItDataError(f"meta.channel_axis: {axis!r} must index a non-time axis of a sample of shape {x.shape[1:]} (1..{sample_ndim - 1})")
    return ArrayData(
        name=name,
        task=task,
        x=np.ascontiguousarray(np.concatenate(xs).astype(np.float32, copy=False)),
        y=np.ascontiguousarray(y_all),
        n_given_train=len(x),
        channel_axis=axis % sample_ndim,
        class_names=class_names,
        description=str(meta.get("description", "")),
    )


def import_arrays(store: DatasetStore, raw: Any, meta: Mapping[str, Any] | None, *, overwrite: bool = False) -> ArrayData:
    """Validate and store an array dataset; returns what was stored."""
    data = arrays_from_raw(raw, meta or {})
    store.save_arrays(data, overwrite=overwrite)
    return data

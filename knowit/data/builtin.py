"""Built-in datasets, generated deterministically on first use (never downloaded).

``synth_regression``: 3 instances of hourly data with gaps (so each instance has several
slices); inputs x1..x4 are noisy oscillations and random walks, target y1 mixes x1 three steps
back with x2 and x3 now. ``synth_classification``: x1..x3 and a 3-class ``label`` that says
which of x1/x2/x3 had the largest mean over the last 5 steps.

Array datasets (whole-sequence tasks, tiny so tests stay fast): ``synth_frames`` holds 8-frame
sequences of 12x12 single-channel images ``(N, 8, 1, 12, 12)`` in which a blob moves left,
right or down (the class), with a given test partition; ``synth_field`` holds 8-step sequences
of a 1-D field ``(N, 8, 16, 2)`` (rows, channels) carrying two bumps that travel at one speed,
the regression target.
"""
from __future__ import annotations

import warnings

from collections.abc import Callable

import numpy as np
import pandas as pd

from knowit.data.importing import import_dataset
from knowit.data.store import DatasetStore
from knowit.errors import KnowItDataError

_SEED = 20240607


def _series(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    x1 = np.sin(2 * np.pi * t / 24 + rng.uniform(0, 6.3)) + 0.1 * rng.standard_normal(n)
    x2 = np.cumsum(0.1 * rng.standard_normal(n))
    x3 = np.cos(2 * np.pi * t / 60) + 0.1 * rng.standard_normal(n)
    x4 = rng.standard_normal(n)
    return np.stack([x1, x2, x3, x4], axis=1)


def synth_regression(n_per_instance: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(_SEED)
    frames = []
    for k in range(3):
        x = _series(rng, n_per_instance)
        y = 0.8 * np.roll(x[:, 0], 3) + 0.5 * x[:, 1] - 0.3 * x[:, 2] + 0.05 * rng.standard_normal(n_per_instance)
        y[:3] = y[3]
        time = pd.date_range("2024-01-01", periods=n_per_instance, freq="h") + pd.Timedelta(days=100 * k)
        frame = pd.DataFrame({"time": time, "instance": f"unit{k}", "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "x4": x[:, 3], "y1": y})
        gaps = rng.choice(np.arange(200, n_per_instance - 200), size=2, replace=False)
        frame = frame.drop(index=[g + d for g in gaps for d in range(3)])  # breaks in time: new slices
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def synth_classification(n_per_instance: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(_SEED + 1)
    frames = []
    for k in range(3):
        x = rng.standard_normal((n_per_instance, 3))
        window = np.stack([np.convolve(x[:, i], np.ones(5) / 5, mode="full")[:n_per_instance] for i in range(3)], axis=1)
        label = np.array(["low", "mid", "high"])[window.argmax(axis=1)]
        time = pd.date_range("2024-01-01", periods=n_per_instance, freq="min") + pd.Timedelta(days=10 * k)
        frames.append(pd.DataFrame({"time": time, "instance": f"unit{k}", "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "label": label}))
    return pd.concat(frames, ignore_index=True)


def _blob_frames(rng: np.random.Generator, n: int, steps: int = 8, size: int = 12) -> tuple[np.ndarray, np.ndarray]:
    directions = np.array([[0, -1], [0, 1], [1, 0]])  # (row, col) per step: left, right, down
    label = rng.integers(0, len(directions), n)
    start = rng.uniform(3, size - 4, (n, 2)) - directions[label] * (steps // 2)
    t = np.arange(steps)
    centre = start[:, None, :] + directions[label][:, None, :] * t[None, :, None]  # (n, steps, 2)
    grid = np.arange(size)
    rows = np.exp(-0.5 * ((grid[None, None, :] - centre[..., 0:1]) / 1.2) ** 2)  # (n, steps, size)
    cols = np.exp(-0.5 * ((grid[None, None, :] - centre[..., 1:2]) / 1.2) ** 2)
    frames = rows[..., :, None] * cols[..., None, :] + 0.1 * rng.standard_normal((n, steps, size, size))
    return frames[:, :, None].astype(np.float32), np.array(["left", "right", "down"])[label]


def synth_frames() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(_SEED + 2)
    x, y = _blob_frames(rng, 120)
    x_test, y_test = _blob_frames(rng, 40)
    return {"x": x, "y": y, "x_test": x_test, "y_test": y_test}


def synth_field(n: int = 160, steps: int = 8, rows: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(_SEED + 3)
    speed = rng.uniform(-1.0, 1.0, n)
    start = rng.uniform(4, rows - 5, (n, 2))
    centre = start[:, None, :] + speed[:, None, None] * np.arange(steps)[None, :, None]  # (n, steps, 2)
    grid = np.arange(rows)
    field = np.exp(-0.5 * ((grid[None, None, :, None] - centre[:, :, None, :]) / 1.5) ** 2)  # (n, steps, rows, 2)
    field += 0.05 * rng.standard_normal(field.shape)
    return {"x": field.astype(np.float32), "y": speed.astype(np.float32)}


BUILTIN: dict[str, tuple[Callable[[], pd.DataFrame | dict[str, np.ndarray]], dict]] = {
    "synth_regression": (synth_regression, {"targets": ["y1"], "description": "built-in multivariate regression series"}),
    "synth_classification": (synth_classification, {"labels": ["label"], "targets": ["label"], "description": "built-in 3-class series"}),
    "synth_frames": (synth_frames, {"task": "classification", "description": "built-in image sequences (N, 8, 1, 12, 12), 3 motion classes"}),
    "synth_field": (synth_field, {"task": "regression", "description": "built-in 1-D field sequences (N, 8, 16, 2), target: bump speed"}),
}


def ensure_builtin(store: DatasetStore, name: str) -> bool:
    """Generate and store built-in dataset ``name`` if it is built-in and not stored yet."""
    if name not in BUILTIN or store.exists(name):
        return False
    make, meta = BUILTIN[name]
    try:
        with warnings.catch_warnings():  # its gaps are there on purpose (slices to show): no advice to fill them
            warnings.filterwarnings("ignore", message=".*missing period.*fill_gaps")
            import_dataset(store, make(), {"name": name, **meta})
    except KnowItDataError:
        if store.exists(name):  # another process generated it at the same moment
            return False
        raise
    return True

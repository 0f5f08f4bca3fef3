"""Built-in datasets, generated deterministically on first use (never downloaded).

``synth_regression``: 3 instances of hourly data with gaps (so each instance has several
slices); inputs x1..x4 are noisy oscillations and random walks, target y1 mixes x1 three steps
back with x2 and x3 now. ``synth_classification``: x1..x3 and a 3-class ``label`` that says
which of x1/x2/x3 had the largest mean over the last 5 steps.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from knowit.data.importing import import_frame
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


BUILTIN: dict[str, tuple[Callable[[], pd.DataFrame], dict]] = {
    "synth_regression": (synth_regression, {"targets": ["y1"], "description": "built-in multivariate regression series"}),
    "synth_classification": (synth_classification, {"labels": ["label"], "targets": ["label"], "description": "built-in 3-class series"}),
}


def ensure_builtin(store: DatasetStore, name: str) -> bool:
    """Generate and store built-in dataset ``name`` if it is built-in and not stored yet."""
    if name not in BUILTIN or store.exists(name):
        return False
    make, meta = BUILTIN[name]
    try:
        import_frame(store, make(), {"name": name, **meta})
    except KnowItDataError:
        if store.exists(name):  # another process generated it at the same moment
            return False
        raise
    return True

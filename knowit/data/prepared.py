"""What the DataModule and the results read of prepared data, and the one place that picks a kind.

``PreparedData`` is implemented by ``PreparedSeries`` (``prepared_series.py``: windows over
stored rows) and ``PreparedArrays`` (``prepared_arrays.py``: whole-sequence samples). Callers
use this interface only; ``spec`` is ``None`` where there is no time axis to window.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from knowit.config.schema import DataConfig
from knowit.data.builtin import ensure_builtin
from knowit.data.prepared_arrays import PreparedArrays, prepare_arrays
from knowit.data.prepared_series import PreparedSeries, prepare_series
from knowit.data.scaling import Scaler
from knowit.data.store import DatasetStore


class PreparedData(Protocol):
    task: str
    sets: dict[str, np.ndarray]
    x_scaler: Scaler | None
    y_scaler: Scaler | None
    class_names: list[str] | None
    class_counts: dict[str, dict[str, int]]
    class_weights: list[float] | None

    @property
    def spec(self) -> Any: ...  # the WindowSpec of series; None for arrays

    @property
    def input_dim(self) -> list[int]: ...

    @property
    def output_dim(self) -> list[int]: ...

    @property
    def default_stream_stride(self) -> int: ...

    def set_points(self, name: str) -> np.ndarray: ...

    def batch(self, points: torch.Tensor) -> dict[str, torch.Tensor]: ...  # the gather

    def point_columns(self, points: np.ndarray) -> dict[str, np.ndarray]: ...

    def output_labels(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]: ...

    def stream_of(self, points: np.ndarray) -> np.ndarray: ...

    def descale_outputs(self, values: np.ndarray) -> np.ndarray: ...

    def scalers_dict(self) -> dict[str, Any]: ...


def prepare_dataset(cfg: DataConfig, store: DatasetStore, seed: int, split: Any = None) -> PreparedSeries | PreparedArrays:
    """Prepare a stored (or built-in) dataset of either kind for batching."""
    ensure_builtin(store, cfg.name)
    if store.kind(cfg.name) == "arrays":
        return prepare_arrays(cfg, store, seed)
    return prepare_series(cfg, store, seed, split)

"""Predictions and evaluation of a trained run on one of its sets.

The run's own config rebuilds its data exactly (same dataset, windows, split and seed); the
scalers it fits are the ones the run saved, because they come from the same training rows.
Targets and predictions come back in original units (``rescale_outputs``), as a tidy table:
one row per prediction point, output step and output component (regression) or per point
(classification, with one probability column per class).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from knowit.config.schema import SETS
from knowit.errors import KnowItConfigError
from knowit.results.load import LoadedRun


def _check_set(name: str, key: str) -> None:
    if name not in SETS:
        raise KnowItConfigError(f"{key}: {name!r} is not a set; choose one of: {', '.join(SETS)}")


def run_data(run: LoadedRun):
    """The run's DataModule, rebuilt from its saved config (a warning when the dataset changed since)."""
    from knowit.data.datamodule import KnowItDataModule
    from knowit.provenance import warn_if_data_changed

    datamodule = KnowItDataModule(run.cfg.data, run.cfg.exp_dir, run.cfg.seed)
    warn_if_data_changed(run.summary, datamodule.data_hash)
    return datamodule


def empty_set_note(set_name: str, datamodule: Any) -> str:
    portions = getattr(getattr(datamodule, "cfg", None), "split_portions", None)
    share = f" (data.split_portions={list(portions)})" if portions is not None else ""
    return f"the {set_name} set holds no points{share}, so it was not evaluated"


def set_loader(datamodule: Any, set_name: str) -> Any:
    """A set's loader; an empty set is one clear error, not an IndexError deep in Lightning."""
    from knowit.errors import KnowItDataError

    loader = datamodule.loader(set_name)
    if len(loader) == 0:
        raise KnowItDataError(f"set: {empty_set_note(set_name, datamodule).replace(', so it was not evaluated', '')}; choose a set with points")
    return loader


@torch.no_grad()
def predict_set(module: Any, datamodule: Any, set_name: str, *, limit: int | float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(points, outputs, targets)`` of a set in the order the set's loader serves them
    (``limit``: a Lightning ``limit_*_batches`` value; the first batches only)."""
    import itertools

    from knowit.training.trainer import limited_batches

    module = module.eval()
    module._reset_states()
    points, outputs, targets = GrowingRows(), GrowingRows(), GrowingRows()
    device = next(module.parameters()).device
    loader = set_loader(datamodule, set_name)
    for batch in itertools.islice(loader, limited_batches(limit, len(loader))):
        if "reset" in batch:
            module._reset_states(batch["reset"].to(device))
        outputs.add(module(batch["x"].to(device)).float().cpu().numpy())
        targets.add(batch["y"].numpy())
        points.add(batch["point"].numpy())
    return points.rows(), outputs.rows(), targets.rows()


class GrowingRows:
    """Rows appended batch by batch into one array that doubles when full.

    Keeping each batch's small result (16 KB) while the forward's megabytes of activations come
    and go pinned glibc's heap: predicting an 800k-point test set in batches of 4096 held 2 GB
    that was never used again. One growing block keeps the heap free of such islands.
    """

    def __init__(self) -> None:
        self.block: np.ndarray | None = None
        self.n = 0

    def add(self, rows: np.ndarray) -> None:
        end = self.n + len(rows)
        if self.block is None or end > len(self.block):
            grown = np.empty((max(end, 2 * (0 if self.block is None else len(self.block)), 1024), *rows.shape[1:]), dtype=rows.dtype)
            if self.block is not None:
                grown[: self.n] = self.block[: self.n]
            self.block = grown
        self.block[self.n:end] = rows
        self.n = end

    def rows(self) -> np.ndarray:
        return np.empty(0) if self.block is None else self.block[: self.n]


def predictions_frame(run: LoadedRun, set_name: str = "valid", *, rescale_outputs: bool = True) -> pd.DataFrame:
    """The tidy predictions table of one set of a saved run (see the module docstring)."""
    _check_set(set_name, "predictor.prediction_set")
    return set_frame(run.module, run_data(run), set_name, rescale_outputs=rescale_outputs)


def set_frame(module: Any, datamodule: Any, set_name: str, *, rescale_outputs: bool = True, limit: int | float = 1.0) -> pd.DataFrame:
    """The tidy predictions table of one set, from a module and the data it was trained on."""
    points, outputs, targets = predict_set(module, datamodule, set_name, limit=limit)
    return frame_of_arrays(datamodule.prepared, points, outputs, targets, rescale_outputs=rescale_outputs)


def frame_of_arrays(prepared: Any, points: np.ndarray, outputs: np.ndarray, targets: np.ndarray, *, rescale_outputs: bool = True) -> pd.DataFrame:
    """The tidy predictions table of ``predict_set``'s arrays (model outputs in scaled units)."""
    where = prepared.point_columns(points)
    if prepared.task == "classification":
        names = np.asarray(prepared.class_names, dtype=object)
        probs = torch.softmax(torch.from_numpy(outputs), dim=-1).numpy()
        frame = pd.DataFrame({**where, "target": names[targets], "prediction": names[probs.argmax(-1)]})
        for k, name in enumerate(prepared.class_names):
            frame[f"prob_{name}"] = probs[:, k]
        return frame
    if rescale_outputs:
        outputs, targets = prepared.descale_outputs(outputs), prepared.descale_outputs(targets)
    n, per_point = len(points), int(np.prod(outputs.shape[1:]))
    frame = pd.DataFrame({k: np.repeat(v, per_point) for k, v in where.items()})
    steps, components = prepared.output_labels(outputs.shape[1:])
    frame["step"] = np.tile(steps, n)
    frame["component"] = np.tile(components, n)
    frame["target"] = targets.reshape(n, -1).ravel().astype(np.float64)
    frame["prediction"] = outputs.reshape(n, -1).ravel().astype(np.float64)
    return frame


def save_predictions(frame: pd.DataFrame, folder: Path, set_name: str) -> Path:
    from knowit.atomic_io import write_atomic

    return write_atomic(folder / f"{set_name}.parquet", lambda tmp: frame.to_parquet(tmp, index=False))


def evaluate(run: LoadedRun, set_name: str) -> dict[str, float]:
    """The run's loss and metrics on one set, computed by the module as in training."""
    from knowit.training.trainer import eval_trainer

    _check_set(set_name, "set")
    datamodule = run_data(run)
    out = eval_trainer().test(run.module, dataloaders=set_loader(datamodule, set_name), verbose=False)[0]
    return {f"{set_name}_{k[len('test_'):]}": float(v) for k, v in out.items()}

"""Series datasets from a data config to ready-to-batch sets: load, window, split, fit scalers.

``PreparedSeries`` (the series side of ``knowit.data.prepared.PreparedData``; arrays are in
``prepared_arrays.py``) is what the DataModule serves batches from; it also tells the model its
dimensions (they flow from the data, never typed twice) and maps points back to
instance/slice/time for predictions.

The stored rows stay as they are (read-only and memory-mapped, see ``store``): each batch is
scaled as it is gathered, with one fused multiply-add over the freshly gathered block, so no
scaled copy of the series ever exists. A component that is both input and output is scaled by
its input statistics on both sides.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from knowit.config.schema import DataConfig
from knowit.data.classes import class_weights, count_classes
from knowit.data.output_labels import flat_output_labels
from knowit.data.scaling import FittedScalers, Scaler, covered_rows, fit_on_rows
from knowit.data.frequency import display_times
from knowit.data.gaps import without_filled_targets
from knowit.data.splitting import SETS, resolve_split_method, split_codes, split_points
from knowit.data.series import SeriesData
from knowit.data.store import DatasetStore
from knowit.data.windows import WindowGather, WindowSpec, point_ranges, slice_of_rows
from knowit.errors import KnowItDataError


@dataclass
class PreparedSeries(FittedScalers):
    data: SeriesData
    spec: WindowSpec
    task: str
    in_components: list[str]
    out_components: list[str]
    n_points: int  # prediction points before splitting (a chronological split purges some)
    sets: dict[str, np.ndarray]  # set name -> its prediction points (rows), in row order
    gather: WindowGather
    x_scaler: Scaler | None = None
    y_scaler: Scaler | None = None
    class_names: list[str] | None = None
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    class_weights: list[float] | None = None
    filled_targets: int = 0  # points left out because a filled row lies in their output window

    @property
    def input_dim(self) -> list[int]:
        return [len(self.spec.in_offsets), len(self.in_components)]

    @property
    def output_dim(self) -> list[int]:
        if self.task == "classification":
            return [len(self.class_names or [])]
        return [len(self.spec.out_offsets), len(self.out_components)]

    def set_points(self, name: str) -> np.ndarray:
        return self.sets[name]

    def slice_of(self, rows: np.ndarray) -> np.ndarray:
        return slice_of_rows(self.data.slices, rows)

    def batch(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        points = points.long()  # sets are stored as int32 where rows allow it
        x = self.gather.inputs(points)  # a fresh block (a strided view on the padded path): scaled without another copy
        x = self.x_scaler.transform_(x) if self.x_scaler is not None else x.contiguous()
        y = self.gather.targets(points)
        y = self.y_scaler.transform_(y) if self.y_scaler is not None else y.contiguous()
        mask = self.gather.input_mask(points)
        if mask is not None:
            x = x * mask  # pads read as zero in scaled units: the training mean
        return {"x": x, "y": y, "point": points}

    def raw_values(self, rows: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """Stored rows in original units (float64)."""
        columns = np.arange(self.data.values.shape[1]) if columns is None else np.asarray(columns)
        return self.data.values[np.asarray(rows)][:, columns].astype(np.float64)

    def point_columns(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """Instance, slice and time of each point (a row)."""
        slice_idx = self.slice_of(points)
        times = display_times(self.data.times[points], self.data.time_kind, self.data.tz)
        return {
            "instance": np.asarray(self.data.instances, dtype=object)[self.data.slices[slice_idx, 0]],
            "slice": slice_idx,
            "time": times,
        }

    def output_labels(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Output step (offset from the point) and component name of every value of one output."""
        if len(shape) != 2:
            return flat_output_labels(shape)
        steps = np.repeat(self.spec.out_offsets, shape[1])
        components = np.tile(np.asarray(self.out_components, dtype=object), shape[0])
        return steps, components

    def stream_of(self, points: np.ndarray) -> np.ndarray:
        """The stream (slice) each point belongs to: contiguous batches never cross one."""
        return self.slice_of(points)

    @property
    def default_stream_stride(self) -> int:
        """Points between consecutive rows of a stream: one input window, so windows tile the slice."""
        return len(self.spec.in_offsets)


def _components(cfg: DataConfig, data: SeriesData) -> tuple[list[str], list[str]]:
    out_c = list(cfg.out_components) if cfg.out_components else list(data.targets)
    if not out_c:
        raise KnowItDataError(f"data.out_components: dataset {data.name!r} declares no targets; name the output components")
    if cfg.split_column and cfg.split_column in [*(cfg.in_components or []), *out_c]:
        raise KnowItDataError(f"data.split_column: {cfg.split_column!r} is also a model input or output")
    # A forecast (outputs after the input window) reads the outputs' own past by default: a series'
    # history is most of what predicts it. Where the windows overlap that would show the model the
    # values it predicts, so the outputs stay out.
    own_past = cfg.task == "regression" and cfg.out_chunk[0] > cfg.in_chunk[1]
    in_c = list(cfg.in_components) if cfg.in_components else [
        c for c in data.components if (own_past or c not in out_c) and c != cfg.split_column]
    if not in_c:
        raise KnowItDataError("data.in_components: no input components left; name them")
    seen = [c for c in out_c if c in in_c]
    if seen and cfg.task == "regression" and cfg.out_chunk[0] <= cfg.in_chunk[1] and cfg.out_chunk[1] >= cfg.in_chunk[0]:
        warnings.warn(
            f"data.in_components: {seen[0]!r} is an output and an input whose window covers the rows it predicts "
            f"(in_chunk {list(cfg.in_chunk)}, out_chunk {list(cfg.out_chunk)}): the model sees its answers; "
            f"leave it out of in_components or end in_chunk before out_chunk starts", stacklevel=2)
    return in_c, out_c


def prepare_series(cfg: DataConfig, store: DatasetStore, seed: int, split: Any = None) -> PreparedSeries:
    """``split``: a function ``(data, first, counts, spec) -> sets`` replacing ``data.split_method``
    (the backtest's folds); the scalers are fitted on its training points as usual."""
    data = store.load_series(cfg.name)
    in_c, out_c = _components(cfg, data)
    in_idx = data.component_index(in_c, "data.in_components")
    out_idx = data.component_index(out_c, "data.out_components")
    classification = cfg.task == "classification"
    class_names = None
    if classification:
        if len(out_c) != 1 or cfg.out_chunk[0] != cfg.out_chunk[1]:
            raise KnowItDataError("data.out_chunk: classification predicts one label: use one out_component and out_chunk [k, k]")
        labels = data.values[:, out_idx[0]]
        if out_c[0] in data.categories:
            class_names = data.categories[out_c[0]]
            from knowit.data.classes import check_stored_codes

            check_stored_codes(labels, class_names, data.name, out_c[0])
        else:
            if not np.all(labels == np.round(labels)) or labels.min() < 0:
                raise KnowItDataError(f"data.out_components: {out_c[0]!r} must hold class labels (non-negative integers or strings)")
            class_names = [str(int(c)) for c in range(int(labels.max()) + 1)]
    spec = WindowSpec(tuple(cfg.in_chunk), tuple(cfg.out_chunk), padded=cfg.padding == "zeros")
    first, counts = point_ranges(data.slices, spec)
    method = resolve_split_method(cfg.split_method, arrays=False)
    if cfg.stratify:
        raise KnowItDataError("data.stratify: stratification applies to array datasets; a time series keeps its time order")
    codes = split_codes(data, cfg.split_column) if method == "custom" else None
    sets = split(data, first, counts, spec) if split else split_points(data, first, counts, spec, method, list(cfg.split_portions), seed, codes)
    sets, filled_targets = without_filled_targets(sets, data.filled_runs, spec.out_offsets)

    x_scaler = y_scaler = None
    if cfg.scaling_method and cfg.scaling_tag:
        # Only rows inside training windows feed the statistics: nothing from valid/test leaks in.
        rows = covered_rows(data.n_rows, sets["train"], data.slices, *spec.in_chunk)
        x_scaler = fit_on_rows(cfg.scaling_method, data.values, rows, in_idx, in_c)
        if cfg.scales_targets:
            rows = covered_rows(data.n_rows, sets["train"], data.slices, *spec.out_chunk)
            y_scaler = fit_on_rows(cfg.scaling_method, data.values, rows, out_idx, out_c)
        del rows
        if y_scaler is not None:
            _share_input_statistics(x_scaler, in_idx, y_scaler, out_idx)
    if classification and x_scaler is not None and int(out_idx[0]) in set(in_idx.tolist()):
        raise KnowItDataError("data.in_components: the label component cannot also be an input")

    prepared = PreparedSeries(
        data=data, spec=spec, task=cfg.task, in_components=in_c, out_components=out_c,
        n_points=int(counts.sum()), sets=sets,
        gather=WindowGather(data.values, spec, in_idx, out_idx, classification=classification, slices=data.slices),
        x_scaler=x_scaler, y_scaler=y_scaler, class_names=class_names, filled_targets=filled_targets,
    )
    if classification:
        for name in SETS:
            codes = data.values[sets[name] + spec.out_chunk[0], out_idx[0]]
            prepared.class_counts[name] = count_classes(codes, class_names)
        prepared.class_weights = class_weights(cfg.class_weights, prepared.class_counts["train"])
    return prepared


def _share_input_statistics(x_scaler: Scaler | None, in_idx: np.ndarray, y_scaler: Scaler, out_idx: np.ndarray) -> None:
    """An output component that is also an input is scaled by its input statistics, so the model
    sees one scale for one quantity."""
    if x_scaler is None:
        return
    position = {int(c): j for j, c in enumerate(in_idx)}
    for j, c in enumerate(out_idx):
        if int(c) in position:
            y_scaler.shift[j], y_scaler.scale[j] = x_scaler.shift[position[int(c)]], x_scaler.scale[position[int(c)]]

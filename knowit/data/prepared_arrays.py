"""From a data config to ready-to-batch sets of whole-sequence samples (array datasets).

Sets: a dataset with a given test partition keeps it as the test set and draws the validation
set from its train pool (``val_fraction``); otherwise the samples are split by
``split_portions``. ``split_method=random`` (what ``auto`` means here) shuffles with the run's
seed, ``chronological`` keeps the stored order (samples are taken to be in time order);
``stratify`` (by default on for a random split of class labels) splits every class separately so
each set keeps the class proportions. Scalers are fitted per channel on the
training samples only. ``PreparedArrays`` is the arrays side of
``knowit.data.prepared.PreparedData`` (series: ``prepared_series.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from knowit.config.schema import DataConfig
from knowit.data.arrays import ArrayData
from knowit.data.classes import class_weights, count_classes
from knowit.data.output_labels import flat_output_labels
from knowit.data.scaling import FittedScalers, Scaler
from knowit.data.splitting import SETS, resolve_split_method
from knowit.data.store import DatasetStore
from knowit.errors import KnowItDataError

ARRAY_SPLIT_METHODS = ("random", "chronological")


@dataclass
class PreparedArrays(FittedScalers):
    data: ArrayData
    task: str
    points: np.ndarray  # sample indices 0..N-1
    sets: dict[str, np.ndarray]  # set name -> indices into ``points``
    x_scaler: Scaler | None = None
    y_scaler: Scaler | None = None
    class_names: list[str] | None = None
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    class_weights: list[float] | None = None

    def __post_init__(self) -> None:
        self._x = torch.from_numpy(self.data.x)  # shares memory with the loaded array
        self._y = torch.from_numpy(self.data.y)

    @property
    def input_dim(self) -> list[int]:
        """One sample's shape, e.g. ``[T, C]``, ``[T, rows, channels]`` or ``[T, C, H, W]``."""
        return list(self.data.x.shape[1:])

    @property
    def output_dim(self) -> list[int]:
        if self.task == "classification":
            return [len(self.class_names or [])]
        return list(self.data.y.shape[1:])

    def set_points(self, name: str) -> np.ndarray:
        return self.points[self.sets[name]]

    def batch(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """``x``: ``(B, *input_dim)`` float32; ``y``: ``(B,)`` int64 codes or ``(B, *output_dim)``."""
        x = self._x[points]
        y = self._y[points]
        if self.x_scaler is not None:
            x = self.x_scaler.transform_(x)
        if self.y_scaler is not None:
            y = self.y_scaler.transform_(y)
        return {"x": x, "y": y, "point": points}

    @property
    def spec(self) -> None:
        """Arrays have no windows over a time axis (``PreparedSeries.spec`` is a ``WindowSpec``)."""
        return None

    def point_columns(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """The sample index of each point."""
        return {"sample": np.asarray(points)}

    def output_labels(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        return flat_output_labels(shape)

    def stream_of(self, points: np.ndarray) -> np.ndarray:
        """Every sample is its own stream segment (there are no slices)."""
        return np.arange(len(points))

    @property
    def default_stream_stride(self) -> int:
        return 1


def _partition(idx: np.ndarray, fractions: list[float], rng: np.random.Generator | None, groups: np.ndarray | None) -> list[np.ndarray]:
    """Cut ``idx`` into consecutive parts of the given fractions, per group when stratifying."""
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    members = [idx] if groups is None else [idx[groups[idx] == g] for g in np.unique(groups[idx])]
    bounds = np.cumsum(fractions)[:-1]
    for group in members:
        if rng is not None:
            group = rng.permutation(group)
        cuts = np.round(bounds * len(group)).astype(np.int64)
        for k, piece in enumerate(np.split(group, cuts)):
            parts[k].append(piece)
    return [np.sort(np.concatenate(p)) for p in parts]


def split_samples(data: ArrayData, cfg: DataConfig, seed: int) -> dict[str, np.ndarray]:
    """Train/valid/test sample indices. With ``stratify`` unset, a random split of class labels is
    stratified: every set (validation drawn from the train pool included) keeps the class shares."""
    method = resolve_split_method(cfg.split_method, arrays=True)
    if method not in ARRAY_SPLIT_METHODS:
        raise KnowItDataError(
            f"data.split_method: {method!r} does not apply to array dataset {data.name!r}; choose auto, {' or '.join(ARRAY_SPLIT_METHODS)}"
        )
    if cfg.stratify and data.task != "classification":
        raise KnowItDataError("data.stratify: stratification needs class labels (task=classification)")
    stratify = cfg.stratify if cfg.stratify is not None else (data.task == "classification" and method == "random")
    rng = np.random.default_rng(seed) if method == "random" else None
    groups = data.y if stratify else None
    pool = np.arange(data.n_given_train)
    if data.has_given_test:
        train, valid = _partition(pool, [1.0 - cfg.val_fraction, cfg.val_fraction], rng, groups)
        sets = {"train": train, "valid": valid, "test": np.arange(data.n_given_train, data.n_samples)}
        portions = [1.0 - cfg.val_fraction, cfg.val_fraction, 1.0]
    else:
        portions = list(cfg.split_portions)
        sets = dict(zip(SETS, _partition(pool, portions, rng, groups)))
    for name, portion in zip(SETS, portions):
        if portion > 0 and len(sets[name]) == 0:
            raise KnowItDataError(f"data.split_portions: the {name} set of {data.name!r} is empty ({data.n_given_train} samples to split); change the portions")
    return sets


def prepare_arrays(cfg: DataConfig, store: DatasetStore, seed: int) -> PreparedArrays:
    data = store.load_arrays(cfg.name)
    if cfg.task != data.task:
        raise KnowItDataError(f"data.task: dataset {data.name!r} holds {data.task} targets; set data.task={data.task}")
    for key in ("in_components", "out_components"):
        if getattr(cfg, key) is not None:
            raise KnowItDataError(f"data.{key}: array dataset {data.name!r} has no named components; leave it null")
    sets = split_samples(data, cfg, seed)
    train = sets["train"]
    x_scaler = y_scaler = None
    if cfg.scaling_method and cfg.scaling_tag:
        n_channels = data.x.shape[1 + data.channel_axis]
        names = [f"channel{i}" for i in range(n_channels)]
        x_scaler = Scaler.fit(cfg.scaling_method, data.x[train], names, axis=1 + data.channel_axis)
        if cfg.scales_targets:
            names = [f"target{i}" for i in range(data.y.shape[-1])]
            y_scaler = Scaler.fit(cfg.scaling_method, data.y[train], names, axis=-1)
    prepared = PreparedArrays(
        data=data, task=data.task, points=np.arange(data.n_samples), sets=sets,
        x_scaler=x_scaler, y_scaler=y_scaler, class_names=data.class_names,
    )
    if data.class_names is not None:
        prepared.class_counts = {name: count_classes(data.y[sets[name]], data.class_names) for name in SETS}
        prepared.class_weights = class_weights(cfg.class_weights, prepared.class_counts["train"])
    return prepared

"""Typed schemas of the config groups. Defaults here are the documented defaults.

The YAML files in ``conf/`` select and override these; every key a YAML file or an override
sets must exist here (the validator names the full key path otherwise).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

from knowit.config.validate import FieldError

TASKS = ("regression", "classification")
LOGGERS = ("csv", "tensorboard", "mlflow")
SPLIT_METHODS = (
    "chronological", "random", "instance-random", "instance-chronological",
    "slice-random", "slice-chronological", "custom",
)


@dataclass
class DataConfig:
    """Which dataset, which windows, how to split and scale (KnowIt's data arguments)."""

    name: str = "synth_regression"
    task: str = field(default="regression", metadata={"choices": TASKS})
    in_components: Optional[list[str]] = None  # null: every component not in out_components
    out_components: Optional[list[str]] = None  # null: the dataset's declared targets
    in_chunk: list[int] = field(default_factory=lambda: [-31, 0], metadata={"length": 2})
    out_chunk: list[int] = field(default_factory=lambda: [0, 0], metadata={"length": 2})
    split_portions: list[float] = field(
        default_factory=lambda: [0.6, 0.2, 0.2], metadata={"length": 3, "ge": 0.0, "le": 1.0}
    )
    split_method: str = field(default="chronological", metadata={"choices": SPLIT_METHODS})
    split_column: Optional[str] = None  # for split_method=custom: values train/valid/test
    batch_size: int = field(default=64, metadata={"ge": 1})
    shuffle_train: bool = True
    # contiguous: row i of every batch continues stream i in time (stateful models, LSTM tracking)
    batch_sampling: str = field(default="random", metadata={"choices": ("random", "contiguous")})
    stream_stride: Optional[int] = field(default=None, metadata={"ge": 1})  # null: the input window length
    scaling_method: Optional[str] = field(default="z-norm", metadata={"choices": ("z-norm", "zero-one", None)})
    scaling_tag: Optional[str] = field(default="full", metadata={"choices": ("full", "in_only", None)})
    padding: Optional[str] = field(default=None, metadata={"choices": (None, "zeros")})
    nan_handling: str = "split"
    val_fraction: float = field(default=0.2, metadata={"gt": 0.0, "lt": 1.0})
    stratify: bool = False
    class_weights: Optional[Union[str, list[float]]] = None
    num_workers: int = field(default=0, metadata={"ge": 0})
    pin_memory: bool = False

    def check(self) -> None:
        if self.in_chunk[0] > self.in_chunk[1]:
            raise FieldError("in_chunk", f"start {self.in_chunk[0]} is after end {self.in_chunk[1]}")
        if self.out_chunk[0] > self.out_chunk[1]:
            raise FieldError("out_chunk", f"start {self.out_chunk[0]} is after end {self.out_chunk[1]}")
        total = sum(self.split_portions)
        if abs(total - 1.0) > 1e-6:
            raise FieldError("split_portions", f"portions must sum to 1, they sum to {total:g}")
        if self.split_portions[0] <= 0:
            raise FieldError("split_portions", "the training portion must be > 0")
        if self.split_method == "custom" and not self.split_column:
            raise FieldError("split_column", "split_method=custom needs the name of a split column")


@dataclass
class EarlyStoppingConfig:
    enabled: bool = False
    monitor: str = "valid_loss"
    patience: int = field(default=5, metadata={"ge": 0})
    mode: str = field(default="min", metadata={"choices": ("min", "max")})
    min_delta: float = field(default=0.0, metadata={"ge": 0.0})


@dataclass
class CheckpointConfig:
    monitor: str = "valid_loss"
    mode: str = field(default="min", metadata={"choices": ("min", "max")})
    save_top_k: int = field(default=1, metadata={"ge": -1})
    save_last: bool = True


@dataclass
class TrainerConfig:
    """How to train: optimiser, loss, metrics, stopping and the Lightning Trainer's knobs."""

    max_epochs: int = field(default=10, metadata={"ge": 1})
    max_time: Optional[str] = None  # "DD:HH:MM:SS"
    learning_rate: float = field(default=1e-3, metadata={"gt": 0.0})
    optim: str = "Adam"
    optim_kwargs: dict[str, Any] = field(default_factory=dict)
    weight_decay: float = field(default=0.0, metadata={"ge": 0.0})
    lr_scheduler: Optional[str] = None
    lr_scheduler_kwargs: dict[str, Any] = field(default_factory=dict)
    loss_fn: Optional[str] = None  # null: mse_loss for regression, cross_entropy for classification
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    performance_metrics: Optional[list[str]] = None  # null: accuracy (classification) / mae (regression)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    gradient_clip_val: Optional[float] = field(default=None, metadata={"gt": 0.0})
    accumulate_grad_batches: int = field(default=1, metadata={"ge": 1})
    precision: Union[str, int] = field(default="32", metadata={"choices": ("32", "64", "16-mixed", "bf16-mixed", "bf16-true")})
    accelerator: str = "auto"
    devices: Union[int, str, list[int]] = "auto"
    strategy: str = "auto"
    num_nodes: int = field(default=1, metadata={"ge": 1})
    logger: Union[list[str], str] = field(default_factory=lambda: ["csv"])  # csv (always) + tensorboard, mlflow
    progress_bar: Optional[bool] = None  # null: on when the terminal is interactive
    limit_train_batches: Union[int, float] = field(default=1.0, metadata={"gt": 0})
    limit_val_batches: Union[int, float] = field(default=1.0, metadata={"ge": 0})
    limit_test_batches: Union[int, float] = field(default=1.0, metadata={"ge": 0})
    deterministic: bool = False
    resume: Optional[str] = None  # a run directory, a model name or a checkpoint file to continue from

    def check(self) -> None:
        if isinstance(self.logger, str):
            self.logger = [self.logger]
        for i, name in enumerate(self.logger):
            if name not in LOGGERS:
                raise FieldError(f"logger[{i}]", f"{name!r} is not a logger; choose from: {', '.join(LOGGERS)}")


@dataclass
class RootConfig:
    """Top-level keys beside the three groups."""

    exp_dir: str = "knowit_exp"
    model_name: Optional[str] = None  # null: a unique name is made from arch, data and time
    seed: int = field(default=123, metadata={"ge": 0})
    overwrite: bool = False
    optimized_metric: Optional[str] = "valid_loss"

    def check(self) -> None:
        if self.model_name is not None:
            bad = set(self.model_name) & set('/\\:*?"<>|')
            if not self.model_name.strip() or bad or self.model_name.startswith("."):
                raise FieldError("model_name", f"{self.model_name!r} cannot be a directory name")


GROUPS = ("data", "arch", "trainer")
